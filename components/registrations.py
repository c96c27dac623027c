"""Let a large program's registrations start before the Python SDK begins to wait for them.

A Pulumi Python program declares its resources synchronously: each registration is only
*scheduled* until the program yields to the event loop. The SDK's end-of-program wait
(``pulumi.runtime.stack.wait_for_rpcs``, SDK 3.259 to 3.272) first waits for the registrations it has
seen start, one after the other; a program that never yielded has none, so it goes straight
to its other loop, ``asyncio.wait(every pending output, FIRST_COMPLETED)``, which re-arms a
callback on every pending output each time one completes. With thousands of resources
completing one by one on a cluster, that is quadratic: most of the program's CPU at 1,000
services (docs/measurements.md, "Scale"). One yield at the end of the program lets every registration
start, so the SDK waits for them linearly, and the outputs are resolved when it gets to them.
"""

from __future__ import annotations

import asyncio
import contextlib


async def _yield_once() -> None:
    await asyncio.sleep(0)


def start_registrations() -> None:
    """Call once, at the end of a program with many resources (after the last resource).

    It registers a ``pulumi.run`` entry point that yields once to the event loop. A program
    that has its own ``pulumi.run`` entry point does not need it as long as that entry point
    awaits something: it is skipped there, and under unit-test mocks, where there is no
    Pulumi program to run.
    """
    import pulumi  # here: the package is also imported by `immutable-ops`, which must start without the SDK

    # RunError: an entry point of the program's own, or no program (mocks): nothing to add.
    with contextlib.suppress(pulumi.RunError):
        pulumi.run(_yield_once)
