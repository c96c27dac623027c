"""Build stack histories for the unit tests of history, report and rollback (plain values,
shaped like what workspace.py reads from the engine)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from immutable_infra.ledger import WorkloadLedger
from immutable_infra.ops.records import ROLLBACK_MESSAGE, UpdateRecord

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
WEB = {f"web-{v}": f"registry.example.com/acme/web@sha256:{c * 64}" for v, c in (("1", "a"), ("2", "b"), ("3", "c"))}
RELEASES = {"web-1": "1111aaaa", "web-2": "2222bbbb", "web-3": "3333cccc"}


def outputs(active: str, kept: Sequence[str] = ()) -> dict[str, Any]:
    """Stack outputs of the example program for ``web`` running version ``active``."""
    return {
        "web_release": RELEASES[active],
        "web_kept_releases": [RELEASES[k] for k in kept],
        "web_images": {RELEASES[v]: WEB[v] for v in (active, *kept)},
        "target": "render",
    }


def ledger(*versions: str, active: str | None = None) -> dict[str, WorkloadLedger]:
    return {"web": WorkloadLedger.model_validate({
        "releases": [{"artifact": WEB[v], "release": RELEASES[v], "note": v} for v in versions],
        **({"active": WEB[active]} if active else {}),
    })}


def record(number: int, minute: float, seconds: float, *, result: str = "succeeded", message: str = "",
           out: Mapping[str, Any] | None = None, led: Mapping[str, WorkloadLedger] | None = None,
           kind: str = "update") -> UpdateRecord:
    start = T0 + timedelta(minutes=minute)
    return UpdateRecord(number, kind, start, start + timedelta(seconds=seconds), result, message,
                        led or {}, out, {"update": 1}, {"exec.kind": "cli"})


def story() -> list[UpdateRecord]:
    """Deploy web-1; deploy web-2; roll back to web-1; a failed deploy of web-3; web-3 fixed."""
    return [
        record(1, 0, 60, out=outputs("web-1"), led=ledger("web-1")),
        record(2, 60, 40, out=outputs("web-2", ["web-1"]), led=ledger("web-1", "web-2")),
        record(3, 70, 8, message=f"{ROLLBACK_MESSAGE} web 2222bbbb → 1111aaaa",
               out=outputs("web-1", ["web-2"]), led=ledger("web-1", "web-2", active="web-1")),
        record(4, 120, 5, result="failed", out=outputs("web-1", ["web-2"]), led=ledger("web-1", "web-2", "web-3")),
        record(5, 150, 30, out=outputs("web-3", ["web-2"]), led=ledger("web-1", "web-2", "web-3")),
    ]
