"""Time Pulumi programs under mocks, components vs hand-written raw resources.

Both variants run in the same process, interleaved, several rounds each, so the ratio
(component / raw) is measured in one run on the same machine state. The mocks do no
work, so the figure is the SDK-side overhead our components add (validation, hashing,
manifest building, extra component resources). Speed is printed, never asserted.

Both wall time and CPU time (``time.process_time``: this process, all its threads) are
taken; on a shared, loaded machine the CPU-time ratio is the steadier of the two.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.runtime import mocks as runtime_mocks


class _NullMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.count = 0

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.count += 1
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


def run_once(program: Callable[[], None]) -> tuple[float, int]:
    """Seconds to run ``program`` to completion under mocks, and resources registered."""
    wall, _, count = run_timed(program)
    return wall, count


def run_timed(program: Callable[[], None]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and resources registered for ``program`` under mocks."""
    mocks = _NullMocks()
    pulumi.runtime.settings.set_root_resource(None)
    runtime_mocks.set_mocks(mocks, project="bench", stack="bench", preview=False)
    start, cpu = time.perf_counter(), time.process_time()
    pulumi.runtime.test(program)()
    return time.perf_counter() - start, time.process_time() - cpu, mocks.count


def _collected(program: Callable[[], None]) -> Callable[[], None]:
    """``program`` after a full collection (outside the clock): every run starts from the same collector
    state, otherwise whether a run pays one more full collection (~5% of it here) depends on what
    the runs before it left behind."""
    gc.collect()
    return program


def compare(title: str, component: Callable[[int], Callable[[], None]], raw: Callable[[int], Callable[[], None]],
            sizes: tuple[int, ...] = (50, 200), rounds: int = 5) -> dict[int, float]:
    """Print the median component/raw ratios (wall and CPU) for each size; return the CPU ones."""
    ratios: dict[int, float] = {}
    print(f"\n{title}")
    print(f"{'N':>5} {'component s':>12} {'raw s':>8} {'resources c/r':>14} {'ratio':>7} "
          f"{'cpu c s':>8} {'cpu r s':>8} {'cpu ratio':>9}")
    for n in sizes:
        run_once(component(n))  # warm-up: imports, first-call caches
        run_once(raw(n))
        comp: list[tuple[float, float]] = []
        hand: list[tuple[float, float]] = []
        counts = (0, 0)
        for _ in range(rounds):
            t, c_cpu, c = run_timed(_collected(component(n)))
            comp.append((t, c_cpu))
            t2, r_cpu, r = run_timed(_collected(raw(n)))
            hand.append((t2, r_cpu))
            counts = (c, r)
        wall_c, wall_r = statistics.median(x[0] for x in comp), statistics.median(x[0] for x in hand)
        cpu_c, cpu_r = statistics.median(x[1] for x in comp), statistics.median(x[1] for x in hand)
        ratios[n] = cpu_c / cpu_r
        print(f"{n:>5} {wall_c:>12.3f} {wall_r:>8.3f} {counts[0]:>6}/{counts[1]:<7} {wall_c / wall_r:>7.2f}x "
              f"{cpu_c:>8.3f} {cpu_r:>8.3f} {cpu_c / cpu_r:>8.2f}x")
    return ratios
