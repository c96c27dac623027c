"""The serving order, step by step: the sequence of issue #36, the migration of a ledger of the
previous format, a failed update, and what ``releases``/``history`` show (pure, no engine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from immutable_infra.ledger import LedgerEntry, WorkloadLedger
from immutable_infra.ops import history
from immutable_infra.ops import releases as rel
from immutable_infra.ops.records import ROLLBACK_MESSAGE, UpdateRecord

from .serving_model import TARGETS, Stack

K8S = TARGETS["kubernetes"]
A1, A2, A3 = K8S.artifacts[:3]


def _stack() -> Stack:
    stack = Stack(K8S, (A1, "a", 1))
    stack.deploy()
    stack.append(A2)
    stack.deploy()
    return stack


def test_deploy_after_a_rollback_keeps_the_release_that_was_serving() -> None:
    """Issue #36: r1, r2, rollback to r1, deploy r3: r1 (which served) is kept, r2 retired."""
    stack = _stack()
    r1, r2 = stack.release_of((A1, "a", 1)), stack.release_of((A2, "a", 1))
    assert stack.deployed is not None and (stack.deployed.routed, stack.deployed.kept) == (r2, (r1,))
    stack.rollback(None)
    assert stack.deployed.routed == r1 and stack.deployed.kept == (r2,)
    assert [(e.release, e.event) for e in stack.ledger.releases] == [(r1, None), (r2, None), (r1, "rollback")]
    stack.append(A3)                                   # nothing else to edit: no pin to remove
    stack.deploy()
    r3 = stack.release_of((A3, "a", 1))
    assert (stack.deployed.routed, stack.deployed.kept, stack.deployed.owned) == (r3, (r1,), {r3, r1})


def test_a_code_change_while_rolled_back_is_held_and_record_says_the_next_step() -> None:
    stack = _stack()
    stack.rollback(None)
    r1 = stack.deployed.routed if stack.deployed else ""
    stack.code = "b"
    plan = stack.record()
    assert not plan.recorded and stack.resolve().active.release == r1      # still exactly r1
    (note,) = plan.notes
    assert "runs exactly as recorded (rollback)" in note
    assert f"pulumi config set --path 'immutable:ledger.web.releases[3].artifact' '{A1}' -s dev" in note
    stack.append(A1)                                   # the step the note gives
    stack.deploy()
    assert stack.deployed is not None and stack.deployed.routed == stack.release_of((A1, "b", 1))
    assert stack.deployed.kept == (r1,)


def test_a_ledger_of_the_previous_format_keeps_what_runs() -> None:
    """An `active` pin of the previous format reads as the order it meant: same active, same kept."""
    stack = _stack()
    r1, r2 = stack.release_of((A1, "a", 1)), stack.release_of((A2, "a", 1))
    stack.ledger = WorkloadLedger(releases=[LedgerEntry(artifact=A1, release=r1), LedgerEntry(artifact=A2, release=r2)],
                                  active=r1)
    stack.up()
    before = stack.deployed
    assert before is not None and (before.routed, before.kept) == (r1, (r2,))
    plan = stack.record()                              # the first write stores the current form
    assert plan.changed and stack.ledger.active is None
    assert [(e.release, e.event) for e in stack.ledger.releases] == [(r2, None), (r1, "pin")]
    stack.up()
    assert stack.deployed == before                    # nothing replaced, nothing deleted


def test_an_artifact_appended_after_an_old_pin_is_deployed_next_and_the_pinned_one_kept() -> None:
    """The issue's step 4 with the previous format (pin left in place): record handles the pin."""
    stack = _stack()
    r1, r2 = stack.release_of((A1, "a", 1)), stack.release_of((A2, "a", 1))
    stack.ledger = WorkloadLedger(releases=[LedgerEntry(artifact=A1, release=r1), LedgerEntry(artifact=A2, release=r2)],
                                  active=r1)
    stack.up()
    stack.ledger = WorkloadLedger(releases=[*stack.ledger.releases, LedgerEntry(artifact=A3)], active=r1)
    plan = stack.record()
    assert any("appended after the pin" in n for n in plan.notes)
    stack.up()
    r3 = stack.release_of((A3, "a", 1))
    assert stack.deployed is not None and (stack.deployed.routed, stack.deployed.kept) == (r3, (r1,))


def test_a_release_whose_update_failed_never_becomes_a_kept_one() -> None:
    stack = _stack()
    r2 = stack.release_of((A2, "a", 1))
    stack.append(A3)
    stack.deploy(fails=True)                           # r3 recorded, never served
    stack.code = "b"                                   # the fix: another release of A3
    plan = stack.record()
    assert any("never served" in n for n in plan.notes)
    stack.up()
    assert stack.deployed is not None
    assert (stack.deployed.routed, stack.deployed.kept) == (stack.release_of((A3, "b", 1)), (r2,))


def test_a_rollback_after_a_failed_update_keeps_the_release_that_served() -> None:
    stack = _stack()
    r1, r2 = stack.release_of((A1, "a", 1)), stack.release_of((A2, "a", 1))
    stack.append(A3)
    stack.deploy(fails=True)
    stack.rollback(r1)
    assert stack.deployed is not None and (stack.deployed.routed, stack.deployed.kept) == (r1, (r2,))


def test_releases_lists_the_serving_order_with_its_events() -> None:
    stack = _stack()
    stack.rollback(None)
    rows = rel.rows({"web": stack.ledger}, stack.archive)
    assert [(r.event, r.role) for r in rows] == [("deploy", "served earlier"), ("deploy", "kept #1"),
                                                  ("rollback", "active")]
    order = rel.serving_order({"web": stack.ledger})["web"]
    assert [o["event"] for o in order] == ["rollback", "deploy"] and order[0]["release"] == rows[-1].release


def _update(n: int, message: str, ledger: WorkloadLedger, release: str, kept: list[str]) -> UpdateRecord:
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    return UpdateRecord(n, "update", start, start + timedelta(seconds=5), "succeeded", message, {"web": ledger},
                        {"web_release": release, "web_kept_releases": kept})


def test_history_shows_rollbacks_and_promotions_as_events() -> None:
    r1, r2, r3 = "1111aaaa", "2222bbbb", "3333cccc"
    e1, e2 = (LedgerEntry(artifact=a, release=r) for a, r in ((A1, r1), (A2, r2)))
    first = WorkloadLedger(releases=[e1])
    second = WorkloadLedger(releases=[e1, e2])
    back = second.pointed_at(r1)                                        # written by hand: no tool message
    promoted = back.appended(A3, release=r3, event="promotion")
    records = [_update(1, "", first, r1, []), _update(2, "", second, r2, [r1]),
               _update(3, "by hand", back, r1, [r2]), _update(4, ROLLBACK_MESSAGE + " web", second, r2, [r1]),
               _update(5, "", promoted, r3, [r2])]
    assert [r.change for r in history.rows(records)] == ["deployed", "deployed", "rolled back", "rolled back",
                                                          "promoted"]
