"""Rollback and promotion plans: resolved from outputs and ledgers, bad input refused."""

from __future__ import annotations

import pytest
from immutable_infra.ledger import WorkloadLedger
from immutable_infra.ops import promote, rollback
from immutable_infra.ops.errors import ExitCode, OpsError
from immutable_infra.ops.records import workloads_from_outputs
from immutable_infra.records import ReleaseArchive, ReleaseRecord

from .records_kit import RELEASES, WEB, ledger, outputs

API = "registry.example.com/acme/api@sha256:" + "e" * 64


def _state(active: str = "web-2", kept: tuple[str, ...] = ("web-1",)) -> dict[str, object]:
    out: dict[str, object] = outputs(active, list(kept))
    out.update({"api_release": "eeee0000", "api_kept_releases": [], "api_images": {"eeee0000": API},
                "legacy_release": "0000aaaa", "legacy_ami": "ami-0f9e8d7c6b5a40312", "legacy_deployed": False})
    return out


def _ledgers(*web: str, active: str | None = None) -> dict[str, WorkloadLedger]:
    return {**ledger(*web, active=active),
            "api": WorkloadLedger.model_validate({"releases": [{"artifact": API, "release": "eeee0000", "note": "api 2"}]}),
            "legacy": WorkloadLedger.model_validate({"releases": [{"artifact": "ami-0f9e8d7c6b5a40312",
                                                                   "release": "0000aaaa"}]})}


# The source's release archive (records built directly: these ids are fakes, not content hashes).
ARCHIVE = ReleaseArchive({
    "web": {rid: ReleaseRecord(rid, WEB[v], {"image": WEB[v]}) for v, rid in RELEASES.items()},
    "api": {"eeee0000": ReleaseRecord("eeee0000", API, {"image": API})},
    "legacy": {"0000aaaa": ReleaseRecord("0000aaaa", "ami-0f9e8d7c6b5a40312", {"ami_id": "ami-0f9e8d7c6b5a40312"})},
})


def _bad(call: object, words: str) -> None:
    with pytest.raises(OpsError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.code == ExitCode.BAD_INPUT
    assert words in str(caught.value), str(caught.value)


def test_workloads_from_outputs_read_services_and_server_groups() -> None:
    state = workloads_from_outputs(_state())
    assert state["web"].artifact == WEB["web-2"] and state["web"].kept == (RELEASES["web-1"],)
    assert state["legacy"].artifact == "ami-0f9e8d7c6b5a40312" and state["legacy"].kept == ()


def test_rollback_to_the_newest_kept_release() -> None:
    plan = rollback.plan("dev", workloads_from_outputs(_state()), _ledgers("web-1", "web-2"), workload="web")
    assert (plan.workload, plan.from_release, plan.to_release, plan.artifact) == ("web", "2222bbbb", "1111aaaa", WEB["web-1"])
    # A rollback is an event in the serving order: the kept release is listed again at the end, exact.
    assert [(e.release, e.event) for e in plan.after.releases] == [("1111aaaa", None), ("2222bbbb", None),
                                                                   ("1111aaaa", "rollback")]
    assert plan.after.active is None and plan.after.pinned and plan.after.kept_entries()[0].release == "2222bbbb"
    assert plan.message == "immutable-ops rollback web 2222bbbb → 1111aaaa"


@pytest.mark.parametrize("query", ["1111aaaa", "1111", WEB["web-1"], "sha256:" + "a" * 64, "a" * 12])
def test_rollback_target_by_id_prefix_artifact_or_digest(query: str) -> None:
    plan = rollback.plan("dev", workloads_from_outputs(_state()), _ledgers("web-1", "web-2"), to=query)
    assert plan.to_release == "1111aaaa"


def test_rollback_refuses_what_it_cannot_do() -> None:
    state = workloads_from_outputs(_state())
    ledgers = _ledgers("web-1", "web-2")
    known = {"web": {"3333cccc": WEB["web-3"]}}
    _bad(lambda: rollback.plan("dev", state, ledgers, to="deadbeef"), "unknown release 'deadbeef'")
    _bad(lambda: rollback.plan("dev", state, ledgers, to="3333cccc", known=known), "is not kept in 'dev' any more")
    _bad(lambda: rollback.plan("dev", state, ledgers, to="2222bbbb"), "already the active release")
    _bad(lambda: rollback.plan("dev", state, ledgers, workload="nope"), "unknown workload 'nope'")
    _bad(lambda: rollback.plan("dev", state, ledgers, workload="api"), "no kept release")
    _bad(lambda: rollback.plan("dev", {}, ledgers), "exports no releases")
    _bad(lambda: rollback.plan("dev", state, _ledgers("web-2")), "has no entry for")
    two = workloads_from_outputs({**_state(), "api_kept_releases": ["eeee1111"],
                                  "api_images": {"eeee0000": API, "eeee1111": API + "1"}})
    _bad(lambda: rollback.plan("dev", two, ledgers), "several workloads")


def test_promotion_copies_the_tested_entry() -> None:
    state = workloads_from_outputs(_state())
    items = promote.plan("dev", "test", state, _ledgers("web-1", "web-2"), _ledgers("web-1"), source_archive=ARCHIVE)
    assert [i.workload for i in items] == ["web"]  # api and legacy already run the same releases
    (item,) = items
    assert item.artifact == WEB["web-2"] and item.note == "web-2" and item.target_artifact == WEB["web-1"]
    assert [e.artifact for e in item.after.releases] == [WEB["web-1"], WEB["web-2"]]
    # The exact record travels, a promotion event: the target runs the same release id as the source.
    assert item.after.active_entry.release == "2222bbbb" and item.after.active_entry.event == "promotion"
    assert item.after.pinned and item.record == ARCHIVE.get("web", "2222bbbb")
    assert promote.message("dev", "test", items) == "immutable-ops promote dev → test: web 2222bbbb"


def test_promotion_after_a_rollback_in_the_target_makes_the_entry_active_again() -> None:
    state = workloads_from_outputs(_state())
    target = _ledgers("web-1", "web-2", active="web-1")
    (item,) = promote.plan("dev", "prod", state, _ledgers("web-1", "web-2"), target, ["web"], source_archive=ARCHIVE)
    assert item.after.active_entry.release == "2222bbbb" and item.after.active_artifact == WEB["web-2"]
    # web-1 served last (the target had rolled back to it): it is the first kept, in the current form.
    assert item.after.active is None and [e.release for e in item.after.kept_entries()] == ["1111aaaa"]


def test_promotion_refuses_untested_or_unknown_things() -> None:
    state = workloads_from_outputs(_state())
    _bad(lambda: promote.plan("dev", "test", state, _ledgers("web-1", "web-2", "web-3"), _ledgers("web-1"),
                              source_archive=ARCHIVE), "promote only what is recorded and tested")
    _bad(lambda: promote.plan("dev", "test", state, _ledgers("web-1", "web-2"), _ledgers("web-1")),
         "no record of web 2222bbbb")
    _bad(lambda: promote.plan("dev", "test", state, _ledgers("web-1", "web-2"), _ledgers("web-1"), ["nope"]),
         "unknown workload(s) 'nope'")
    _bad(lambda: promote.plan("dev", "dev", state, {}, {}), "to itself")
    _bad(lambda: promote.plan("dev", "test", {}, {}, {}), "nothing was tested there")


def test_a_workload_new_to_the_target_gets_its_first_ledger_entry() -> None:
    state = workloads_from_outputs(_state())
    target = {k: v for k, v in _ledgers("web-1").items() if k != "api"}
    items = promote.plan("dev", "test", state, _ledgers("web-1", "web-2"), target, ["api"], source_archive=ARCHIVE)
    assert items[0].before is None and [e.artifact for e in items[0].after.releases] == [API]


def test_parity_reports_a_stack_running_another_release_than_its_ledger_or_a_rebuilt_artifact() -> None:
    from immutable_infra.ops import parity
    from immutable_infra.ops.records import WorkloadState

    ledgers = {"dev": _ledgers("web-1", "web-2"), "test": _ledgers("web-1", "web-2")}
    same = WorkloadState("web", "2222bbbb", WEB["web-2"])
    report = parity.ParityReport(["dev", "test"])
    parity.check_releases(ledgers, {"dev": {"web": same}, "test": {"web": same}}, report)
    assert report.errors == []
    rebuilt = WorkloadState("web", "9999ffff", WEB["web-2"])
    report = parity.ParityReport(["dev", "test"])
    parity.check_releases(ledgers, {"dev": {"web": same}, "test": {"web": rebuilt}}, report)
    assert sorted(d.what for d in report.errors) == ["runs a different release than its ledger names",
                                                     "same artifact, different release ids (rebuilt, not promoted)"]


def test_the_active_release_comes_from_the_resources_not_from_outputs_a_failed_update_wrote() -> None:
    from immutable_infra.ops.records import workloads_from_deployment

    component = "urn:pulumi:dev::p::immutable:kubernetes:ContainerService::web"
    deployment = {"resources": [
        {"type": "pulumi:pulumi:Stack", "urn": "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev",
         "outputs": {**outputs("web-1", ["web-2"])}},  # what a failed rollback left in the outputs
        {"type": "immutable:kubernetes:ContainerService", "urn": component,
         "outputs": {"release": RELEASES["web-1"], "kept_releases": [RELEASES["web-2"]]}},
        {"type": "kubernetes:core/v1:Service", "parent": component,
         "urn": "urn:pulumi:dev::p::immutable:kubernetes:ContainerService$kubernetes:core/v1:Service::web-svc",
         "outputs": {"spec": {"selector": {"immutable.dev/release": RELEASES["web-2"]}}}},
    ]}
    state = workloads_from_deployment(deployment)["web"]
    assert state.release == RELEASES["web-2"] and state.kept == (RELEASES["web-1"],)
    assert state.artifact == WEB["web-2"]


def test_a_program_without_release_records_promotes_the_tested_artifact() -> None:
    state = workloads_from_outputs(_state())
    legacy = {"web": WorkloadLedger.model_validate({"releases": [{"artifact": WEB["web-1"]}, {"artifact": WEB["web-2"]}]})}
    target = {"web": WorkloadLedger.model_validate({"releases": [{"artifact": WEB["web-1"]}]})}
    (item,) = promote.plan("dev", "test", state, legacy, target, ["web"])
    assert item.record is None and item.after.active is None and item.after.active_artifact == WEB["web-2"]
    # With records for the workload, an unrecorded running release is refused instead.
    _bad(lambda: promote.plan("dev", "test", state, legacy, target, ["web"], source_archive=ARCHIVE),
         "promote only what is recorded and tested")
