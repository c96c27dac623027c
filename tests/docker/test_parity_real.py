"""K8s <-> Docker parity with real engines: one spec, one `pulumi up` (real CLI), the Docker side
on the project's Docker engine (what `docker inspect` and the volumes say), the Kubernetes side
rendered to YAML by the real Kubernetes provider. Same release id, image digest, env, config and
secret content, ports, limits and security settings."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from immutable_infra import ContainerServiceSpec
from immutable_infra.docker import run_options as ro
from immutable_infra.fields import cpu_millicores, memory_bytes

from tests.docker.harness import Engine, Registry, Stack

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CONFIG = {"app.toml": "port = 8080\n", "routes.yaml": "- /\n"}
SECRETS = {"db-password": "parity-secret-value"}


def spec(image: str) -> dict[str, Any]:
    return {
        "name": "shop", "namespace": "apps", "image": image, "replicas": 1, "args": ["--mode", "parity"],
        "ports": [{"name": "http", "container_port": 8080}, {"name": "metrics", "container_port": 9090}],
        "env": {"LOG_FORMAT": "json", "FEATURE_X": "on"},
        "config_files": [{"name": k, "content": v} for k, v in CONFIG.items()],
        "secrets": [{"name": k, "value": v} for k, v in SECRETS.items()],
        "resources": {"cpu_request": "100m", "cpu_limit": "750m", "memory_request": "20Mi", "memory_limit": "48Mi"},
        "probes": {"liveness": {"exec_command": ["/bin/testapp", "healthcheck"]},
                   "readiness": {"exec_command": ["/bin/testapp", "ready"], "period_seconds": 1}},
        "security": {"scratch_dirs": ["/tmp", "/var/cache/shop"]},
        "state": {"endpoints": [{"name": "DATABASE_URL", "url": "postgres://db.internal:5432/shop"}]},
        "network": {"ingress_from": [{"ingress_controller": True}]},
        "expose": {"ingress": {"hostname": "shop.local.test", "tls_secret": "shop-tls"}},
    }


class Both:
    def __init__(self, spec: ContainerServiceSpec, docker: dict[str, Any], engine: Engine,
                 manifests: list[dict[str, Any]]) -> None:
        self.spec, self.docker, self.engine, self.manifests = spec, docker, engine, manifests

    def k8s(self, kind: str) -> dict[str, Any]:
        (obj,) = [m for m in self.manifests if m.get("kind") == kind]
        return obj

    @property
    def pod(self) -> dict[str, Any]:
        out: dict[str, Any] = self.k8s("Deployment")["spec"]["template"]["spec"]
        return out

    @property
    def container(self) -> dict[str, Any]:
        out: dict[str, Any] = self.pod["containers"][0]
        return out


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, engine: Engine, registry: Registry) -> Iterator[Both]:
    tmp = tmp_path_factory.mktemp("parity")
    stack = Stack.create(tmp, engine, name="parity")
    render = tmp / "manifests"
    raw = spec(registry.ref("2.1.0"))
    (stack.dir / "plan.json").write_text(json.dumps({"services": [{"spec": raw}], "kubernetes_render_dir": str(render)}))
    stack.pulumi("up", "--yes", "--skip-preview")
    manifests = [doc for f in sorted(render.rglob("*.yaml")) for doc in yaml.safe_load_all(f.read_text()) if doc]
    (name,) = engine.names(**{ro.LABEL_NAME: "shop", ro.LABEL_ROLE: "active"})
    yield Both(ContainerServiceSpec.model_validate(raw), engine.inspect(name), engine, manifests)
    stack.pulumi("destroy", "--yes", "--skip-preview", check=False)


def test_same_release_and_image_digest(both: Both) -> None:
    release = both.spec.release
    assert both.docker["Config"]["Labels"][ro.LABEL_RELEASE] == release
    assert both.k8s("Deployment")["spec"]["template"]["metadata"]["labels"][ro.LABEL_RELEASE] == release
    assert both.container["image"] == both.spec.image
    digests = json.loads(both.engine.docker("image", "inspect", both.docker["Image"], "--format",
                                            "{{json .RepoDigests}}").stdout)
    assert both.spec.image in digests  # the running container's image is that digest
    assert both.docker["State"]["Health"]["Status"] == "healthy"


def test_same_command_and_env(both: Both) -> None:
    assert both.docker["Config"]["Cmd"] == both.container["args"] == ["--mode", "parity"]
    k8s_env = [f"{e['name']}={e['value']}" for e in both.container["env"]]
    # The engine merges the image's own env (PATH, TESTAPP_VERSION) and keeps its own order.
    assert set(k8s_env) <= set(both.docker["Config"]["Env"])
    assert k8s_env == [e for e in both.docker["Config"]["Env"] if e in k8s_env] or sorted(k8s_env) == sorted(
        e for e in both.docker["Config"]["Env"] if e in k8s_env)


def test_same_config_and_secret_content(both: Both) -> None:
    mounts = {m["Destination"]: m for m in both.docker["Mounts"]}
    config_dir = pathlib.Path(mounts[both.spec.config_dir]["Source"])
    secret_dir = pathlib.Path(mounts[both.spec.secrets_dir]["Source"])
    assert {p.name: p.read_text() for p in config_dir.iterdir()} == both.k8s("ConfigMap")["data"] == CONFIG
    secret = both.k8s("Secret")
    import base64
    k8s_secret = secret.get("stringData") or {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert {p.name: p.read_text() for p in secret_dir.iterdir()} == k8s_secret == SECRETS
    k8s_mounts = {m["mountPath"]: bool(m.get("readOnly")) for m in both.container["volumeMounts"]}
    assert k8s_mounts[both.spec.config_dir] and k8s_mounts[both.spec.secrets_dir]
    assert not mounts[both.spec.config_dir]["RW"] and not mounts[both.spec.secrets_dir]["RW"]
    assert sorted(both.docker["HostConfig"]["Tmpfs"]) == sorted(both.spec.security.scratch_dirs) == sorted(
        p for p, _ in k8s_mounts.items() if p not in (both.spec.config_dir, both.spec.secrets_dir))


def test_same_ports(both: Both) -> None:
    k8s_ports = [f"{p['name']}:{p['containerPort']}/{p['protocol']}" for p in both.container["ports"]]
    assert both.docker["Config"]["Labels"][ro.LABEL_PORTS] == ",".join(k8s_ports)
    (binding,) = both.docker["NetworkSettings"]["Ports"]["8080/tcp"]
    assert binding["HostIp"] == "127.0.0.1"  # the Ingress backend, on loopback only


def test_same_limits(both: Both) -> None:
    res, host = both.container["resources"], both.docker["HostConfig"]
    assert host["NanoCpus"] == cpu_millicores(res["limits"]["cpu"]) * 1_000_000
    assert host["CpuShares"] == cpu_millicores(res["requests"]["cpu"]) * 1024 // 1000
    assert host["Memory"] == memory_bytes(res["limits"]["memory"]) == host["MemorySwap"]
    assert host["MemoryReservation"] == memory_bytes(res["requests"]["memory"])
    # What the kernel enforces for the running container, not only what was asked.
    cgroup = pathlib.Path("/sys/fs/cgroup/memory", host["CgroupParent"] or "", both.docker["Id"])
    if cgroup.is_dir():
        assert int((cgroup / "memory.limit_in_bytes").read_text()) == host["Memory"]


def test_same_security_settings(both: Both) -> None:
    sc, host, config = both.container["securityContext"], both.docker["HostConfig"], both.docker["Config"]
    assert config["User"] == f"{sc['runAsUser']}:{sc['runAsGroup']}"
    assert host["ReadonlyRootfs"] is sc["readOnlyRootFilesystem"] is True
    assert ("no-new-privileges:true" in host["SecurityOpt"]) is (not sc["allowPrivilegeEscalation"])
    assert host["CapDrop"] == sc["capabilities"]["drop"] == ["ALL"]
    assert host["Privileged"] is sc.get("privileged", False) is False
    assert not both.pod.get("hostNetwork") and host["NetworkMode"] != "host"
    status = pathlib.Path(f"/proc/{both.docker['State']['Pid']}/status").read_text()
    assert f"\nUid:\t{sc['runAsUser']}\t" in status and "\nCapEff:\t0000000000000000" in status


def test_same_readiness_probe(both: Both) -> None:
    probe, check = both.container["readinessProbe"], both.docker["Config"]["Healthcheck"]
    assert check["Test"] == ["CMD", *probe["exec"]["command"]]
    assert check["Interval"] == probe["periodSeconds"] * 1_000_000_000
    assert check["Retries"] == probe["failureThreshold"]
