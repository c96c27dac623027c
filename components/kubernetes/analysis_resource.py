"""``ReleaseAnalysis``: the cutover analysis as a resource the Service depends on.

Why a dynamic provider resource (and not a resource hook): the Service's update must wait for
the analysis and must not happen when it fails. A resource whose ``create`` runs the analysis
gives exactly that through the engine's own dependency order: the Service ``depends_on`` it,
a failed ``create`` fails the update before the Service is touched, and the result (value,
evaluations, synthetic answers) is recorded in state and visible in ``pulumi stack export``. A
hook could run the same code, but its failure semantics and recorded output are less plain,
and the pinned language host runs dynamic providers already.

One resource per release (``<name>-analysis-<release>``), so the analysis runs when a release
first appears in the stack, once:

* ``create`` with ``gate`` true (a new active release): runs :func:`analysis.analyse`;
* ``create`` with ``gate`` false (a kept release registered for the first time): records only;
* ``update`` (same release, other settings; or a kept release becoming active again, which is
  a rollback): records only. A rollback goes to a release that already served: it is never
  delayed by an analysis.
"""

from __future__ import annotations

import os
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from ..prometheus import resolve_url, shown
from .analysis import AnalysisFailed, KubeAPI, Settings, analyse

RESULT = ("analysed", "value", "evaluations", "sent", "answered", "seconds")
"""What an analysis recorded (outputs); kept as they were by an update."""
SETTINGS = ("query", "threshold", "compare", "duration_seconds", "interval_seconds", "requests", "request_rate",
            "path", "namespace", "service", "release", "release_service", "port")


INTEGERS = ("duration_seconds", "interval_seconds", "requests")
"""Settings that are whole numbers: the engine's wire has only doubles, so they arrive as 20.0,
and PromQL refuses the window ``[20.0s]``."""


def settings_of(props: dict[str, Any]) -> Settings:
    values = {k: props[k] for k in SETTINGS}
    values.update({k: int(values[k]) for k in INTEGERS})  # the spec validated them as integers
    values.update(threshold=float(values["threshold"]), request_rate=float(values["request_rate"]))
    return Settings(**values)


def run(props: dict[str, Any]) -> dict[str, Any]:
    """The analysis of ``props``' release; what it measured (raises AnalysisFailed)."""
    s = settings_of(props)
    url = resolve_url(props.get("prometheus_url") or None, props.get("project_dir") or os.getcwd())
    api = KubeAPI(props.get("kubeconfig") or None) if s.requests else None
    try:
        result = analyse(s, url, api.get if api else None)
    finally:
        if api is not None:
            api.close()
    return {"analysed": True, "value": result.value, "evaluations": result.evaluations, "sent": result.sent,
            "answered": result.answered, "seconds": result.seconds,
            "prometheus_url": shown(url) if url else url}  # state never holds credentials


class ReleaseAnalysisProvider(dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        outs: dict[str, Any] = {**props, "analysed": False}
        if props.get("gate"):
            try:
                outs.update(run(props))
            except AnalysisFailed as exc:
                # The message is the user's answer: query, value, threshold; nothing secret in it.
                raise Exception(str(exc)) from None
        return dynamic.CreateResult(id_=f"{props['service']}-{props['release']}", outs=outs)

    def update(self, _id: str, _olds: dict[str, Any], props: dict[str, Any]) -> dynamic.UpdateResult:
        # Settings changed, or a kept release became active again (a rollback): it already served.
        return dynamic.UpdateResult(outs={**props, **{k: _olds.get(k) for k in RESULT}})


class ReleaseAnalysis(dynamic.Resource):
    """The analysis of one release; the Service that moves to it depends on this resource."""

    value: pulumi.Output[float | None]
    analysed: pulumi.Output[bool]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ReleaseAnalysisProvider(), name, {**props, **dict.fromkeys(RESULT)}, opts)
