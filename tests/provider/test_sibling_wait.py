"""components/provider/host.py, point 3: a refused Construct answers only after its siblings,
including one whose request reaches the provider just after the refusal was decided (under load
the YAML engine's second Construct can arrive a moment later: main's full suite saw ``api``
report ``grpc: the client connection is closing``). Plain asyncio, no engine."""

from __future__ import annotations

import asyncio
from typing import Any

from immutable_infra.provider import host


class _Servicer(host.SiblingAwareServicer):
    def __init__(self) -> None:  # the SDK's servicer needs an engine; only the bookkeeping is tested
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._last_arrival = 0.0

    async def _construct(self, request: Any, context: Any) -> Any:
        await asyncio.sleep(request["seconds"])
        if request.get("refuse"):
            await self.siblings_answered(asyncio.current_task())
            return f"{request['name']} refused"
        return f"{request['name']} done"


def _order(late_by: float) -> list[str]:
    async def run() -> list[str]:
        servicer = _Servicer()
        answered: list[str] = []

        async def call(request: dict[str, Any]) -> None:
            answered.append(await servicer.Construct(request, None))

        web = asyncio.create_task(call({"name": "web", "seconds": 0.0, "refuse": True}))
        await asyncio.sleep(late_by)  # api's request arrives after web was refused
        api = asyncio.create_task(call({"name": "api", "seconds": 0.2}))
        await asyncio.gather(web, api)
        return answered

    # A loop of its own, never made current: asyncio.run() would leave the thread without a current
    # loop, and the Pulumi mocks of the tests after this one in the same worker need it.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(run())
    finally:
        loop.close()


def test_a_sibling_arriving_just_after_the_refusal_answers_first() -> None:
    assert _order(late_by=0.3) == ["api done", "web refused"]


def test_a_sibling_already_in_flight_answers_first() -> None:
    assert _order(late_by=0.0) == ["api done", "web refused"]
