"""History rows and the metrics report, on a stack history built from plain values."""

from __future__ import annotations

import pytest
from immutable_infra.ops import history, report
from immutable_infra.ops.coverage import measure as coverage
from immutable_infra.ops.drift import Drifted, DriftReport

from .records_kit import RELEASES, ROLLBACK_MESSAGE, WEB, ledger, outputs, record, story


def test_rows_say_which_release_each_update_made_active() -> None:
    rows = history.rows(story())
    got = [(r.update, r.workload, r.change, r.release, r.previous) for r in rows]
    assert got == [
        (1, "web", "deployed", "1111aaaa", None),
        (2, "web", "deployed", "2222bbbb", "1111aaaa"),
        (3, "web", "rolled back", "1111aaaa", "2222bbbb"),
        (4, "web", "failed", None, "1111aaaa"),
        (5, "web", "deployed", "3333cccc", "1111aaaa"),
    ]
    failed = rows[3]
    assert failed.artifact == WEB["web-3"] and failed.note == "web-3" and failed.result == "failed"
    assert rows[0].seconds == 60 and rows[0].by == "cli"


def test_unchanged_updates_are_listed_on_request() -> None:
    records = [*story(), record(6, 200, 3, out=outputs("web-3", ["web-2"]))]
    assert len(history.rows(records)) == 5
    assert history.rows(records, include_unchanged=True)[-1].change == "unchanged"


def test_a_move_back_along_the_ledger_is_a_rollback_even_without_the_message() -> None:
    records = [*story()[:2], record(3, 70, 8, out=outputs("web-1", ["web-2"]), led={})]
    assert history.rows(records)[-1].change == "deployed"  # no ledger to tell the order: a deploy
    back = ledger("web-1", "web-2", active="web-1")
    records = [*story()[:2], record(3, 70, 8, out=outputs("web-1", ["web-2"]), led=back)]
    assert history.rows(records)[-1].change == "rolled back"


def test_table_and_json() -> None:
    rows = history.rows(story())
    header, cells = history.table(rows)
    assert header[:4] == ["#", "when (UTC)", "workload", "change"]
    assert cells[1][4] == "1111aaaa → 2222bbbb" and cells[1][5] == "web@sha256:bbbbbbbb"
    data = history.as_json("dev", rows)
    assert data["releases"][2]["change"] == "rolled back" and data["releases"][2]["started"].startswith("2025-03-01T10:10")


def test_releases_seen_include_kept_ones() -> None:
    seen = history.releases_seen(story())
    assert set(seen["web"]) == set(RELEASES.values())


def test_metrics_of_the_story() -> None:
    metrics = report.measure("dev", story())
    assert (metrics.updates, metrics.deploys, metrics.rollbacks, metrics.failed_updates) == (5, 3, 1, 1)
    assert metrics.rolled_back_deploys == 1  # web-2, undone by update 3
    assert metrics.change_failure_rate == pytest.approx(50.0)  # (1 failed + 1 rolled back) / (3 deploys + 1 failed)
    # deploy 2 ended at 60:40, its rollback at 70:08 -> 568 s; failed 4 ended 120:05, fixed at 150:30 -> 1825 s
    assert sorted(metrics.restore_seconds) == [568.0, 1825.0]
    assert metrics.rollback_seconds == (8.0,) and metrics.first_deploy_seconds == 60.0
    assert metrics.rollback_vs_fresh == pytest.approx(8 / 60)
    assert metrics.span_days == pytest.approx((150 * 60 + 30) / 86400)
    assert metrics.deploys_per_day == pytest.approx(3.0)  # three deploys, a span under one day


def test_promotions_are_the_deploys_of_a_promoted_stack() -> None:
    """prod's loop: web-1 promoted, web-2 promoted, rolled back to web-1 (tests/ops/test_workflows_run.py)."""
    records = [
        record(1, 0, 60, message="immutable-ops promote dev prod", out=outputs("web-1"), led=ledger("web-1")),
        record(2, 60, 40, message="immutable-ops promote dev prod", out=outputs("web-2", ["web-1"]),
               led=ledger("web-1", "web-2")),
        record(3, 70, 8, message=f"{ROLLBACK_MESSAGE} web 2222bbbb → 1111aaaa",
               out=outputs("web-1", ["web-2"]), led=ledger("web-1", "web-2", active="web-1")),
    ]
    assert [r.change for r in history.rows(records)] == ["deployed", "promoted", "rolled back"]
    metrics = report.measure("prod", records)
    assert (metrics.deploys, metrics.rollbacks, metrics.rolled_back_deploys) == (2, 1, 1)
    assert metrics.change_failure_rate == pytest.approx(50.0)
    assert metrics.restore_seconds == (568.0,)  # the promotion of web-2 ended at 60:40, its rollback at 70:08


def test_report_table_names_every_metric() -> None:
    drift = DriftReport("dev", 4, (Drifted("urn", "t", "box", "gone"),))
    deployment = {"resources": [{"type": "x:y:Z", "custom": True, "id": "a"}, {"type": "x:y:Z", "custom": True, "id": "b"}]}
    cov = coverage("inventory.json", deployment, ["a", "b", "c", "d"])
    metrics = report.measure("dev", story(), drift=drift, coverage=cov)
    grid = report.table([metrics, report.measure("test", [], drift_note="render mode: no cluster to refresh")])
    rows = {r[0]: r[1:] for r in grid.rows}
    assert rows["drift"] == ["25% (1/4)", "n/a: render mode: no cluster to refresh"]
    assert rows["IaC coverage"][0] == "50% (2/4 found resources managed)"
    assert rows["change failure rate"][0] == "50% (1 failed, 1 rolled back)"
    assert rows["rollback time"][0].startswith("8s last") and "0.13x a fresh deploy" in rows["rollback time"][0]
    data = metrics.as_dict()
    assert data["drift_percent"] == 25.0 and data["iac_coverage_percent"] == 50.0 and data["drifted"] == ["box"]
    assert cov.unmanaged == ("c", "d")


def test_programs_without_releases_count_changing_updates_as_deploys() -> None:
    records = [record(1, 0, 5, out={"server_id": "x"}), record(2, 10, 5, out={"server_id": "y"})]
    assert report.measure("w", records).deploys == 2


def test_history_names_what_changed_between_two_recorded_releases() -> None:
    from immutable_infra.records import ReleaseArchive, ReleaseRecord

    from .records_kit import RELEASES, WEB

    archive = ReleaseArchive({"web": {
        RELEASES["web-1"]: ReleaseRecord(RELEASES["web-1"], WEB["web-1"], {"image": WEB["web-1"], "env": {"A": "1"}}),
        RELEASES["web-2"]: ReleaseRecord(RELEASES["web-2"], WEB["web-2"], {"image": WEB["web-2"], "env": {"A": "2"}}),
    }})
    rows = history.rows(story())
    header, cells = history.table(rows, archive)
    column = header.index("what changed")
    deployed = [c for r, c in zip(rows, cells, strict=True) if r.change == "deployed" and r.release == RELEASES["web-2"]]
    assert deployed and deployed[0][column] == "env, image"
    # the JSON names the same settings (the table's column), null when a release is not recorded
    data = history.as_json("dev", rows, archive)["releases"]
    assert [r["what_changed"] for r in data] == [[], ["env", "image"], ["env", "image"], [], None]
    from immutable_infra.ops.commands.history import HistoryResult
    shown = HistoryResult("dev", rows, archive, {}, len(rows), {}).as_dict()  # what `history -f json` prints
    assert shown["releases"][1]["what_changed"] == ["env", "image"]


def test_report_shows_each_workloads_last_image_build_time() -> None:
    metrics = report.measure("dev", story(), image_build_seconds={"web": (12.0, 7.5), "api": (9.0,), "legacy": ()})
    other = report.measure("test", [])
    rows = {r[0]: r[1:] for r in report.table([metrics, other]).rows}
    assert rows["image build time"] == ["api 9s, web 8s (last build)", "n/a: no build_seconds in the ledger"]
    assert metrics.as_dict()["image_build_seconds"]["web"] == {"median": 9.75, "max": 12.0, "last": 7.5}


def test_ledger_entries_carry_build_seconds_through_a_recorded_edit() -> None:
    from immutable_infra.ledger import WorkloadLedger
    before = WorkloadLedger.model_validate({"releases": [{"artifact": "r/web@sha256:" + "a" * 64, "build_seconds": "4.25"}]})
    assert before.releases[0].build_seconds == 4.25  # written by `pulumi config set --type string`
    assert before.recorded(0, "0123abcd").releases[0].build_seconds == 4.25
    with pytest.raises(ValueError):
        WorkloadLedger.model_validate({"releases": [{"artifact": "x", "build_seconds": -1}]})
