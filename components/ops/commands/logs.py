"""``logs STACK --service S --release R``: the logs of that release's pods only, verbatim."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..output import View

if TYPE_CHECKING:
    from ..workspace import Project


@dataclass
class LogsResult:
    logs: list[tuple[str, str]]
    """(pod, its log), sorted by pod name."""

    def as_dict(self) -> list[dict[str, str]]:
        return [{"pod": pod, "log": text} for pod, text in self.logs]

    def view(self) -> View:
        # raw: log lines are written as they are, never read as rich markup
        return View(raw="".join(f"==> {pod} <==\n{text.rstrip()}\n" for pod, text in self.logs))


def run(project: Project, stack: str, service: str, release: str, tail: int) -> LogsResult:
    from ..health import release_logs

    project.require_stack(stack)
    env = project.immutable_config(stack).get("environment") or {}
    kubeconfig = env.get("kubeconfig")
    if not kubeconfig and env.get("target") == "local-cluster":
        kubeconfig = str(project.dir / ".state" / "cluster" / "kubeconfig")
    return LogsResult(release_logs(kubeconfig, service, release, tail))
