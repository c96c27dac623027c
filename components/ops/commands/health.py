"""``health STACK``: request rate, error ratio and p95 latency per service and release, from
Prometheus (components/ops/health.py reads the series; exit 9 when Prometheus cannot be asked)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..output import Grid, View

if TYPE_CHECKING:
    from ..health import ReleaseHealth
    from ..workspace import Project


@dataclass
class HealthResult:
    stack: str
    url: str
    window: str
    found: list[ReleaseHealth]

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "prometheus": self.url, "window": self.window,
                "releases": [asdict(r) for r in self.found]}

    def view(self) -> View:
        from ..health import HEADER, table

        return View([Grid(f"Releases of {self.stack} over the last {self.window} ({self.url})", HEADER,
                          table(self.found))])


def run(project: Project, stack: str, given_url: str | None, window: str, service: str | None) -> HealthResult:
    from ... import prometheus
    from ..health import measure, prometheus_url, rows

    project.require_stack(stack)
    url = prometheus_url(project, stack, given_url)
    workloads = project.workloads(stack)
    releases = {n: (w.release, tuple(w.kept)) for n, w in workloads.items() if service in (None, n)}
    measured = {k: v for k, v in measure(url, stack, window).items() if service in (None, k[0])}
    return HealthResult(stack, prometheus.shown(url), window, rows(releases, measured))
