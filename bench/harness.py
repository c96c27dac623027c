"""Time Pulumi programs under mocks, components vs hand-written raw resources.

Both variants run in the same process, interleaved, several rounds each, so the ratio
(component / raw) is measured in one run on the same machine state. The mocks do no
work, so the figure is the SDK-side overhead our components add (validation, hashing,
manifest building, extra component resources). Speed is printed, never asserted.
"""

from __future__ import annotations

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
    mocks = _NullMocks()
    pulumi.runtime.settings.set_root_resource(None)
    runtime_mocks.set_mocks(mocks, project="bench", stack="bench", preview=False)
    start = time.perf_counter()
    pulumi.runtime.test(program)()
    return time.perf_counter() - start, mocks.count


def compare(title: str, component: Callable[[int], Callable[[], None]], raw: Callable[[int], Callable[[], None]],
            sizes: tuple[int, ...] = (50, 200), rounds: int = 5) -> dict[int, float]:
    """Print and return the median component/raw time ratio for each size."""
    ratios: dict[int, float] = {}
    print(f"\n{title}")
    print(f"{'N':>5} {'component s':>12} {'raw s':>8} {'resources c/r':>14} {'ratio':>7}")
    for n in sizes:
        run_once(component(n))  # warm-up: imports, first-call caches
        run_once(raw(n))
        comp_times, raw_times = [], []
        counts = (0, 0)
        for _ in range(rounds):
            t, c = run_once(component(n))
            comp_times.append(t)
            t2, r = run_once(raw(n))
            raw_times.append(t2)
            counts = (c, r)
        ratio = statistics.median(comp_times) / statistics.median(raw_times)
        ratios[n] = ratio
        print(f"{n:>5} {statistics.median(comp_times):>12.3f} {statistics.median(raw_times):>8.3f} "
              f"{counts[0]:>6}/{counts[1]:<7} {ratio:>7.2f}x")
    return ratios
