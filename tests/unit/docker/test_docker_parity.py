"""One spec object, two platforms: the Kubernetes ContainerService and the Docker one run
the same release (id, image digest, command, env, config and secret content, ports,
limits, probes, security settings), each in its platform's words."""

from __future__ import annotations

from typing import Any

import pytest
from immutable_infra import ContainerServiceSpec
from immutable_infra.docker import run_options as ro
from immutable_infra.fields import cpu_millicores, memory_bytes
from immutable_infra.kubernetes import ContainerService
from immutable_infra.kubernetes import manifests as m

from ..fixtures import service
from ..k8s_harness import Registered, Result, run_program
from .test_docker_container_service import IMAGE, SECRET_SIG, containers, deploy, image_id, labels

PEER = service(name="api", ports=[{"name": "http", "container_port": 9090}],
               network={"ingress_from": [{"service": "web"}]})

SPECS = {
    "hardened": ContainerServiceSpec.model_validate(service(
        strategy="blue-green", replicas=2, command=["/bin/web"], args=["--listen", ":8080"],
        env={"LOG_FORMAT": "json", "FEATURE_X": "on"},
        config_files=[{"name": "app.toml", "content": "port = 8080\n"}, {"name": "routes.yaml", "content": "- /\n"}],
        secrets=[{"name": "db-password", "value": "parity-secret-value"}, {"name": "api-key", "value": "k-123",
                                                                          "version": "v7"}],
        resources={"cpu_request": "250m", "cpu_limit": "1500m", "memory_request": "100M", "memory_limit": "1Gi"},
        probes={"liveness": {"http_get": {"path": "/healthz"}},
                "readiness": {"http_get": {"path": "/ready"}, "period_seconds": 5, "timeout_seconds": 2,
                              "failure_threshold": 4},
                "startup": {"http_get": {"path": "/healthz"}, "failure_threshold": 12}},
        security={"scratch_dirs": ["/tmp", "/var/cache/web"]},
        state={"endpoints": [{"name": "DATABASE_URL", "url": "postgres://db.internal:5432/web"}]},
        network={"ingress_from": [{"ingress_controller": True}], "egress_to": [{"service": "api", "ports": [9090]}]},
        expose={"ingress": {"hostname": "web.example.com", "tls_secret": "web-tls"}},
    )),
    "opt-outs": ContainerServiceSpec.model_validate(service(
        replicas=1, security={"run_as_user": 0, "run_as_group": 0, "opt_outs": {
            "run_as_root": {"reason": "legacy image needs root"},
            "writable_root_filesystem": {"reason": "writes its pid file to /run"},
            "privilege_escalation": {"reason": "uses a setuid helper binary"}}},
        probes={"liveness": {"tcp_port": 8080}, "readiness": {"exec_command": ["/bin/ready"]}},
    )),
    "tcp-readiness": ContainerServiceSpec.model_validate(service(
        replicas=1, probes={"liveness": {"tcp_port": 8080},
                            "readiness": {"tcp_port": 8080, "timeout_seconds": 3, "period_seconds": 2}},
    )),
}


def on_kubernetes(spec: ContainerServiceSpec) -> Result:
    def program() -> dict[str, Any]:
        svc = ContainerService("web", {"spec": spec, "exec_break_glass": True})
        return {"release": svc.release, "images": svc.images, "opt_outs": svc.opt_outs}

    return run_program(program)


def on_docker(spec: ContainerServiceSpec) -> Result:
    peers = [PEER] if spec.network.egress_to else None
    return deploy(spec, peers=peers)


def whole(value: Any) -> int:
    """The mocks hand numbers over as floats (protobuf Struct); the specs only hold integers."""
    assert float(value).is_integer()
    return int(value)


def k8s_container(result: Result) -> dict[str, Any]:
    (dep,) = result.of_type("kubernetes:apps/v1:Deployment")
    out: dict[str, Any] = dep.inputs["spec"]["template"]["spec"]["containers"][0]
    return out


def k8s_pod(result: Result) -> dict[str, Any]:
    (dep,) = result.of_type("kubernetes:apps/v1:Deployment")
    out: dict[str, Any] = dep.inputs["spec"]["template"]["spec"]
    return out


def docker_container(result: Result) -> dict[str, Any]:
    first: Registered = sorted(containers(result), key=lambda c: c.name)[0]
    return first.inputs


def seed_files(result: Result, role: str) -> dict[str, Any]:
    """file name -> content of the seed that fills the ``role`` volume (secret-unwrapped)."""
    (seed,) = [s for s in containers(result, "seed") if f"-{role}-" in s.name]
    uploads = seed.inputs["uploads"]
    if role == "secret":
        assert SECRET_SIG in uploads  # still a Pulumi secret on the wire
        uploads = uploads["value"]
    return {u["file"].removeprefix(ro.SEED_MOUNT + "/"): u["content"] for u in uploads}


@pytest.fixture(params=SPECS.values(), ids=SPECS.keys())
def both(request: pytest.FixtureRequest) -> tuple[ContainerServiceSpec, Result, Result]:
    spec: ContainerServiceSpec = request.param
    return spec, on_kubernetes(spec), on_docker(spec)


def test_same_release_image_digest_and_opt_outs(both: tuple[ContainerServiceSpec, Result, Result]) -> None:
    spec, k8s, dock = both
    assert k8s.outputs["release"] == dock.outputs["release"] == spec.release
    assert k8s.outputs["images"] == dock.outputs["images"] == {spec.release: spec.image}
    (pull,) = dock.of_type(IMAGE)
    assert k8s_container(k8s)["image"] == pull.inputs["name"] == spec.image
    assert {c.inputs["image"] for c in containers(dock)} == {image_id(spec.image)}
    assert k8s.outputs["opt_outs"] == dock.outputs["opt_outs"]
    assert {c.inputs["name"].rsplit("-", 2)[1] for c in containers(dock)} == {spec.release}
    assert len(containers(dock)) == spec.replicas


def test_same_command_and_env(both: tuple[ContainerServiceSpec, Result, Result]) -> None:
    _, k8s, dock = both
    kc, dc = k8s_container(k8s), docker_container(dock)
    assert kc.get("command") == dc.get("entrypoints") and kc.get("args") == dc.get("command")
    assert [f"{e['name']}={e['value']}" for e in kc["env"]] == dc["envs"]


def test_same_config_and_secret_content_at_the_same_paths(both: tuple[ContainerServiceSpec, Result, Result]) -> None:
    spec, k8s, dock = both
    (cm,) = k8s.of_type("kubernetes:core/v1:ConfigMap")
    assert seed_files(dock, "config") == cm.inputs["data"]
    (secret,) = k8s.of_type("kubernetes:core/v1:Secret")
    assert seed_files(dock, "secret") == secret.inputs["stringData"]["value"]
    k8s_mounts = {mt["mountPath"]: mt.get("readOnly", False) for mt in k8s_container(k8s)["volumeMounts"]}
    # The probe binary is Docker's own addition (the kubelet probes from outside the container).
    docker_mounts = {mt["target"]: mt["readOnly"] for mt in docker_container(dock)["mounts"] if mt["target"] != ro.PROBE_PATH}
    assert docker_mounts == {path: ro_ for path, ro_ in k8s_mounts.items() if path not in spec.security.scratch_dirs}
    assert k8s_mounts[spec.config_dir] is True and k8s_mounts[spec.secrets_dir] is True
    # Same content, same hash in the object names on both sides.
    assert cm.name.endswith(str(ro.config_key(spec))) and secret.name.endswith(str(ro.secret_key(spec)))


def test_same_ports(both: tuple[ContainerServiceSpec, Result, Result]) -> None:
    spec, k8s, dock = both
    k8s_ports = [f"{p['name']}:{whole(p['containerPort'])}/{p['protocol']}" for p in k8s_container(k8s)["ports"]]
    (dc,) = [c for c in containers(dock) if c.inputs["name"].endswith("-0")]
    assert labels(dc)[ro.LABEL_PORTS] == ",".join(k8s_ports)
    if spec.expose.ingress is not None:
        # The Ingress's backend is the first port; Docker publishes that one on loopback.
        assert [p["internal"] for p in dc.inputs["ports"]] == [k8s_container(k8s)["ports"][0]["containerPort"]]


def test_same_limits_and_requests(both: tuple[ContainerServiceSpec, Result, Result]) -> None:
    _, k8s, dock = both
    res, dc = k8s_container(k8s)["resources"], docker_container(dock)
    assert cpu_millicores(res["limits"]["cpu"]) == round(float(dc["cpus"]) * 1000)
    assert cpu_millicores(res["requests"]["cpu"]) * 1024 // 1000 == dc["cpuShares"]
    mib = 2**20
    assert dc["memory"] * mib >= memory_bytes(res["limits"]["memory"]) > (dc["memory"] - 1) * mib
    assert dc["memoryReservation"] * mib >= memory_bytes(res["requests"]["memory"]) > (dc["memoryReservation"] - 1) * mib
    assert dc["memorySwap"] == dc["memory"]  # no swap, as on a kubelet


def test_same_security_settings(both: tuple[ContainerServiceSpec, Result, Result]) -> None:
    spec, k8s, dock = both
    sc, pod, dc = k8s_container(k8s)["securityContext"], k8s_pod(k8s), docker_container(dock)
    assert dc["user"] == f"{whole(sc['runAsUser'])}:{whole(sc['runAsGroup'])}"
    assert sc["runAsNonRoot"] == (spec.security.run_as_user != 0)
    assert dc["readOnly"] == sc["readOnlyRootFilesystem"]
    assert ("no-new-privileges:true" in dc["securityOpts"]) == (not sc["allowPrivilegeEscalation"])
    assert dc["capabilities"]["drops"] == sc["capabilities"]["drop"] == ["ALL"]
    assert dc["privileged"] is sc["privileged"] is False
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"} and not any("seccomp" in o for o in dc["securityOpts"])
    assert not pod.get("hostNetwork") and dc.get("networkMode") != "host"
    scratch = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    k8s_scratch = sorted(mt["mountPath"] for mt in k8s_container(k8s)["volumeMounts"] if mt["name"] in scratch)
    assert sorted(dc["tmpfs"]) == k8s_scratch
    for c in containers(dock):  # every replica alike
        assert labels(c)[ro.LABEL_RELEASE] == spec.release
    opt_labels, _ = m.opt_out_metadata(spec)
    assert opt_labels.items() <= labels(containers(dock)[0]).items()


def test_same_readiness_probe(both: tuple[ContainerServiceSpec, Result, Result]) -> None:
    spec, k8s, dock = both
    probe, check = k8s_container(k8s)["readinessProbe"], docker_container(dock)["healthcheck"]
    assert check["interval"] == f"{whole(probe['periodSeconds'])}s"
    assert check["timeout"] == f"{whole(probe['timeoutSeconds'])}s"
    assert check["retries"] == probe["failureThreshold"]
    if "httpGet" in probe:
        port = ro.port_number(spec, probe["httpGet"]["port"])  # a name, resolved as the kubelet does
        assert check["tests"] == ["CMD", ro.PROBE_PATH, "http", str(port), probe["httpGet"]["path"],
                                  str(whole(probe["timeoutSeconds"]))]
    elif "tcpSocket" in probe:
        assert check["tests"] == ["CMD", ro.PROBE_PATH, "tcp", str(whole(probe["tcpSocket"]["port"])),
                                  str(whole(probe["timeoutSeconds"]))]
    elif "exec" in probe:
        assert check["tests"] == ["CMD", *probe["exec"]["command"]]
    startup = k8s_container(k8s).get("startupProbe")
    if startup:
        budget = whole(startup["initialDelaySeconds"]) + whole(startup["periodSeconds"]) * whole(
            startup["failureThreshold"])
        assert check["startPeriod"] == f"{whole(probe['initialDelaySeconds']) + budget}s"
