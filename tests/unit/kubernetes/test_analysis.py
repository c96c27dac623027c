"""The cutover analysis (issue #33): the spec, the component's wiring, the analysis itself.

The analysis runs against a real (tiny) Prometheus HTTP API on 127.0.0.1 where it matters that
the client tells "unreachable" from "no data"; the real Prometheus and real pods are in
tests/cluster/test_monitoring.py.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from immutable_infra import ContainerServiceSpec, SpecError
from immutable_infra import prometheus as prom
from immutable_infra.kubernetes import manifests as m
from immutable_infra.kubernetes.analysis import AnalysisFailed, Settings, analyse, proxy_path
from immutable_infra.kubernetes.analysis_resource import RESULT, ReleaseAnalysisProvider, settings_of
from pulumi.dynamic.dynamic import serialize_provider

from ..fixtures import IMAGE_B, service
from .test_container_service import SERVICE, deploy, rid

ANALYSIS = {"threshold": 0.05, "duration_seconds": 20, "interval_seconds": 5, "requests": 40, "request_rate": 4}


# --- the spec -----------------------------------------------------------------------------------

def test_analysis_is_not_part_of_the_release() -> None:
    plain = service(strategy="blue-green")
    gated = service(strategy="blue-green", analysis=ANALYSIS)
    assert rid(plain) == rid(gated)
    assert rid(gated) == rid(service(strategy="blue-green", analysis={**ANALYSIS, "threshold": 0.5}))


@pytest.mark.parametrize(("overrides", "path", "says"), [
    ({"analysis": {**ANALYSIS, "interval_seconds": 30}}, "analysis.interval_seconds", "longer than duration_seconds"),
    ({"analysis": {**ANALYSIS, "requests": 1000}}, "analysis.requests", "longer than duration_seconds"),
    ({"analysis": {**ANALYSIS, "query": "sum(rate(http_requests_total[1m]))"}}, "analysis.query",
     "does not select the new release"),
    ({"analysis": {**ANALYSIS, "duration_seconds": 5}}, "analysis.duration_seconds", "greater than or equal to 10"),
    ({"analysis": {k: v for k, v in ANALYSIS.items() if k != "threshold"}}, "analysis.threshold", "required"),
    ({"analysis": {**ANALYSIS, "threshold": float("nan")}}, "analysis.threshold", "finite number"),
    ({"analysis": {**ANALYSIS, "threshold": float("inf")}}, "analysis.threshold", "finite number"),
    ({"analysis": {**ANALYSIS, "threshold": True}}, "analysis.threshold", "a boolean is not a number"),
    ({"analysis": {**ANALYSIS, "requests": True}}, "analysis.requests", "a boolean is not a number"),
    ({"analysis": ANALYSIS, "strategy": "rolling"}, "analysis", "needs the blue-green strategy"),
    ({"analysis": ANALYSIS, "monitoring": {"scrape": False}}, "analysis", "monitoring.scrape is false"),
])
def test_bad_analysis_is_refused_with_its_field(overrides: dict[str, Any], path: str, says: str) -> None:
    spec = service(strategy="blue-green")
    spec.update(overrides)
    with pytest.raises(SpecError) as err:
        ContainerServiceSpec.model_validate(spec)
    problems = [p for p in err.value.problems if p.path == path]
    assert problems and says in problems[0].message, err.value.problems


# --- the component ------------------------------------------------------------------------------

def test_the_service_moves_only_after_the_release_passed_its_analysis() -> None:
    spec = service(strategy="blue-green", analysis=ANALYSIS)
    kept = service(strategy="blue-green", image=IMAGE_B, analysis=ANALYSIS)
    result = deploy(spec, kept=[kept], prometheus_url="http://127.0.0.1:9", kubeconfig="/k")
    new, old = rid(spec), rid(kept)
    svc = result.named("web-svc")
    assert svc.depends_on == [f"web-{new}", f"web-analysis-{new}"]
    # The release-scoped Service selects the new release only.
    scoped = result.named(f"web-svc-{new}")
    assert scoped.type == SERVICE
    assert scoped.inputs["metadata"]["name"] == f"web-{new}"
    assert scoped.inputs["spec"]["selector"] == {m.LABEL_NAME: "web", m.LABEL_RELEASE: new}
    gate = result.named(f"web-analysis-{new}")
    assert gate.type == "pulumi-python:dynamic:Resource"
    assert gate.depends_on == [f"web-svc-{new}"]
    assert {k: gate.inputs[k] for k in ("gate", "release", "release_service", "namespace", "port", "threshold",
                                        "prometheus_url", "kubeconfig")} == {
        "gate": True, "release": new, "release_service": f"web-{new}", "namespace": "apps", "port": "http",
        "threshold": 0.05, "prometheus_url": "http://127.0.0.1:9", "kubeconfig": "/k"}
    # The kept release is recorded, never analysed again (a rollback to it is not delayed).
    assert result.named(f"web-analysis-{old}").inputs["gate"] is False
    assert f"web-svc-{old}" not in result.names
    # Kept releases scale down only after the Service moved, as without analysis.
    assert "web-svc" in result.named(f"web-{old}").depends_on


def test_the_release_scoped_service_of_a_node_port_service_is_a_plain_cluster_ip() -> None:
    """The main Service may be a NodePort (dev's address); the release-scoped one beside it is
    ClusterIP, which the API server refuses with a nodePort (seen on the real node)."""
    reason = {"reason": "dev's address on this machine: the exec lock refuses port-forward"}
    spec = service(strategy="blue-green", analysis=ANALYSIS, expose={"node_port": {"port": 30080, **reason}})
    result = deploy(spec, prometheus_url="http://127.0.0.1:9", kubeconfig="/k")
    assert result.named("web-svc").inputs["spec"]["ports"][0]["nodePort"] == 30080
    scoped = result.named(f"web-svc-{rid(spec)}").inputs["spec"]
    assert scoped["type"] == "ClusterIP"
    assert all("nodePort" not in port for port in scoped["ports"])


def test_without_analysis_nothing_is_added() -> None:
    result = deploy(service(strategy="blue-green"))
    assert not [r for r in result.resources if "analysis" in r.name or r.name.startswith("web-svc-")]
    assert result.named("web-svc").depends_on == [f"web-{rid(service(strategy='blue-green'))}"]


# --- the analysis -------------------------------------------------------------------------------

def settings(**overrides: Any) -> Settings:
    spec = ContainerServiceSpec.model_validate(service(strategy="blue-green", analysis={**ANALYSIS, **overrides}))
    assert spec.analysis is not None
    return Settings(**spec.analysis.model_dump(), namespace="apps", service="web", release="abcd1234",
                    release_service="web-abcd1234", port="http")


class Clock:
    """Analysis time advances by the intervals; real time by a little, so the sender thread runs."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        time.sleep(0.05)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def run(s: Settings, values: list[float | None], get: Any = None) -> tuple[Any, list[str]]:
    asked: list[str] = []
    answers = iter([None, *values])  # the first question only checks that Prometheus answers

    def ask(_url: str, promql: str) -> float | None:
        asked.append(promql)
        return next(answers)

    clock = Clock()
    return analyse(s, "http://prom", get, sleep=clock.sleep, clock=clock, ask=ask), asked


def test_the_query_is_filled_in_for_the_release() -> None:
    promql = settings().promql()
    assert 'release="abcd1234"' in promql and 'service="web"' in promql and 'namespace="apps"' in promql
    assert "[20s]" in promql and "$" not in promql


def test_a_healthy_release_passes_after_the_whole_duration() -> None:
    result, asked = run(settings(), [None, 0.0, 0.01, 0.0])
    assert result.value == 0.0 and result.evaluations == [None, 0.0, 0.01, 0.0]
    assert len(asked) == 5


def test_a_failing_release_fails_at_the_first_bad_evaluation_naming_query_value_and_threshold() -> None:
    with pytest.raises(AnalysisFailed) as err:
        run(settings(), [0.0, 0.5, 0.0, 0.0])
    text = str(err.value)
    assert "measured 0.5" in text and "threshold 0.05" in text and "http_request_errors_total" in text
    assert "old release keeps all traffic" in text


def test_above_compares_the_other_way() -> None:
    with pytest.raises(AnalysisFailed, match=r"measured 0\.9"):
        run(settings(compare="above", threshold=0.95), [0.9])
    assert run(settings(compare="above", threshold=0.95), [0.99] * 4)[0].value == 0.99


def test_no_data_at_all_fails_closed() -> None:
    with pytest.raises(AnalysisFailed, match="failed closed: no data"):
        run(settings(), [None, None, None, None])


def test_no_prometheus_configured_fails_closed() -> None:
    with pytest.raises(AnalysisFailed, match="no Prometheus to ask"):
        analyse(settings(), None, None)


def test_synthetic_requests_are_bounded_and_go_to_the_release_scoped_service() -> None:
    paths: list[str] = []
    s = settings(requests=6, request_rate=100)

    def get(path: str) -> int:
        paths.append(path)
        return 200

    result, _ = run(s, [0.0] * 4, get)
    assert paths == [proxy_path(s)] * 6 and result.sent == 6 and result.answered == {"200": 6}
    assert proxy_path(s) == "/api/v1/namespaces/apps/services/web-abcd1234:http/proxy/"


# --- Prometheus: unreachable is not "no data" --------------------------------------------------

@pytest.fixture
def fake_prometheus() -> Iterator[tuple[str, dict[str, Any]]]:
    answer: dict[str, Any] = {"status": "success", "data": {"resultType": "vector", "result": []}}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer["authorization"] = self.headers.get("Authorization")
            body = json.dumps(answer).encode()
            self.send_response(200 if answer.get("status") == "success" else 400)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answer
    finally:
        server.shutdown()
        server.server_close()


def test_prometheus_client_values_empty_nan_and_errors(fake_prometheus: tuple[str, dict[str, Any]]) -> None:
    url, answer = fake_prometheus
    assert prom.scalar(url, "x") is None
    answer["data"]["result"] = [{"metric": {"release": "a"}, "value": [1, "0.25"]}]
    assert prom.scalar(url, "x") == 0.25
    answer["data"]["result"] = [{"metric": {}, "value": [1, "NaN"]}]
    assert prom.scalar(url, "x") is None
    answer.update({"status": "error", "error": "parse error at char 3"})
    with pytest.raises(prom.PrometheusError, match="parse error") as err:
        prom.scalar(url, "x((")
    assert not isinstance(err.value, prom.PrometheusUnreachable)


def test_prometheus_credentials_go_in_a_header_and_never_in_a_message(
        fake_prometheus: tuple[str, dict[str, Any]]) -> None:
    url, answer = fake_prometheus
    with_auth = url.replace("http://", "http://team:s3cret-pw@")
    assert prom.scalar(with_auth, "x") is None
    assert answer["authorization"] == "Basic dGVhbTpzM2NyZXQtcHc="  # team:s3cret-pw
    answer.update({"status": "error", "error": "bad query"})
    with pytest.raises(prom.PrometheusError) as refused:
        prom.scalar(with_auth, "x((")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        down = f"http://team:s3cret-pw@127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(prom.PrometheusUnreachable) as unreachable:
        prom.scalar(down, "x")
    for err in (refused, unreachable):
        assert "s3cret-pw" not in str(err.value) and "team:***@127.0.0.1" in str(err.value)


def test_a_kubeconfig_it_cannot_use_fails_the_analysis_with_its_reason(tmp_path: Any) -> None:
    from immutable_infra.kubernetes.analysis import KubeAPI
    cases = {
        "list.yaml": ("- a\n", "not a kubeconfig"),
        "noctx.yaml": ("current-context: x\ncontexts: []\n", "no current context"),
        "nocluster.yaml": ("current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n",
                           "names no cluster with a server"),
        "exec.yaml": ("current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                      "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                      "users: [{name: u, user: {exec: {command: aws}}}]\n", "exec and auth-provider"),
        "badcert.yaml": ("current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                         "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', "
                         "certificate-authority-data: bm90IGEgY2VydA==}}]\n", "cannot be loaded"),
    }
    for name, (text, says) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(AnalysisFailed, match=says):
            KubeAPI(str(path))


def test_prometheus_down_fails_the_analysis_closed_before_any_request() -> None:
    with socket.socket() as s:  # a 127.0.0.1 port nothing listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    sent: list[str] = []

    def get(path: str) -> int:
        sent.append(path)
        return 200

    with pytest.raises(AnalysisFailed, match=r"failed closed: Prometheus at .* is unreachable"):
        analyse(settings(), url, get)
    assert sent == []


def test_docker_refuses_an_analysis_it_could_not_run() -> None:
    from immutable_infra.docker import DockerContainerService

    from ..k8s_harness import run_program

    caught: list[SpecError] = []

    def program() -> None:
        try:
            DockerContainerService("web", {"spec": service(strategy="blue-green", analysis=ANALYSIS),
                                           "exec_break_glass": True})
        except SpecError as exc:
            caught.append(exc)

    result = run_program(program)
    assert [p.path for p in caught[0].problems] == ["analysis"] and "Kubernetes only" in caught[0].problems[0].message
    assert not result.resources


# --- the resource's provider (what the engine calls) --------------------------------------------

def provider_props(**overrides: Any) -> dict[str, Any]:
    s = settings(**overrides)
    return {**s.__dict__, "gate": True, "prometheus_url": "", "kubeconfig": "", **dict.fromkeys(RESULT)}


def test_provider_create_runs_the_gate_and_fails_with_the_analysis_message(
        fake_prometheus: tuple[str, dict[str, Any]]) -> None:
    url, answer = fake_prometheus
    answer["data"]["result"] = [{"metric": {}, "value": [1, "0.5"]}]
    props = {**provider_props(requests=0, duration_seconds=10, interval_seconds=1), "prometheus_url": url}
    with pytest.raises(Exception, match=r"FAILED: .* measured 0\.5 \(threshold 0\.05\)"):
        ReleaseAnalysisProvider().create(props)
    answer["data"]["result"] = [{"metric": {}, "value": [1, "0"]}]
    outs = ReleaseAnalysisProvider().create(props).outs or {}
    assert outs["analysed"] is True and outs["value"] == 0.0 and len(outs["evaluations"]) == 10


def test_provider_takes_whole_numbers_that_arrive_as_doubles() -> None:
    """The engine's wire carries every number as a double: ``[20.0s]`` is not PromQL."""
    props = {**provider_props(), "duration_seconds": 20.0, "interval_seconds": 5.0, "requests": 100.0}
    s = settings_of(props)
    assert "[20s]" in s.promql() and type(s.requests) is int and type(s.interval_seconds) is int


def test_provider_kept_records_and_rollbacks_run_nothing() -> None:
    props = {**provider_props(), "gate": False, "prometheus_url": "http://127.0.0.1:9"}  # nothing listens
    created = ReleaseAnalysisProvider().create(props)
    assert created.id == "web-abcd1234" and (created.outs or {})["analysed"] is False
    olds = {**props, "analysed": True, "value": 0.0, "sent": 60}
    outs = ReleaseAnalysisProvider().update("web-abcd1234", olds, {**props, "gate": True, "threshold": 0.1}).outs or {}
    assert outs["value"] == 0.0 and outs["sent"] == 60 and outs["analysed"] is True and outs["threshold"] == 0.1
    assert serialize_provider(ReleaseAnalysisProvider())  # the engine can ship it to the provider process


def test_stack_config_refuses_a_prometheus_url_with_credentials_without_showing_them() -> None:
    from immutable_infra.environment import EnvironmentConfig
    from immutable_infra.errors import validate_spec

    assert validate_spec(EnvironmentConfig, {"name": "dev", "prometheus_url": "http://prom.monitoring:9090"})
    with pytest.raises(SpecError) as err:
        validate_spec(EnvironmentConfig, {"name": "dev", "prometheus_url": "http://team:s3cret-pw@prom:9090"})
    assert [p.path for p in err.value.problems] == ["prometheus_url"]
    assert "s3cret-pw" not in str(err.value)
