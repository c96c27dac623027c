"""The whole story of DockerContainerService on a real Docker engine (target local-docker).

One stack, updated step by step (the tests of this module run in order and share it):
deploy -> hardened run options -> config and secret volumes -> network isolation -> a new
release under traffic (new containers beside the old, healthy first, old removed) -> kept
release -> rollback -> a release that never becomes healthy (the update fails, the old
containers keep serving). Everything runs on the project's own engine (docker/engine.py) with
the bridged Docker provider and the test app's images pulled by digest from the local registry.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from immutable_infra import ContainerServiceSpec
from immutable_infra.docker import run_options as ro

from cluster.supervisor import Supervisor
from tests.docker.harness import DOCKER_CLI, Edge, Engine, LoadGenerator, Registry, Stack, free_port, get, moved_at
from tests.docker.netcheck import connect_from

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SECRET = "docker-story-secret-value"
CONFIG = "greeting = 'hello from config'\n"
READY = {"exec_command": ["/bin/testapp", "ready"], "period_seconds": 1, "timeout_seconds": 2,
         "failure_threshold": 3}
HTTP_READY = {"http_get": {"path": "/ready", "port": "http"}, "period_seconds": 1, "timeout_seconds": 2,
              "failure_threshold": 3}
"""web's readiness: an HTTP probe, run by our probe binary in exec form (the image has no shell)."""
LIVE = {"exec_command": ["/bin/testapp", "healthcheck"], "period_seconds": 5}


def web(image: str, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "web", "namespace": "apps", "image": image,
        "ports": [{"name": "http", "container_port": 8080}],
        "env": {"LOG_FORMAT": "json", "TESTAPP_DRAIN_SECONDS": "1"},
        "config_files": [{"name": "app.toml", "content": CONFIG}],
        "secrets": [{"name": "db-password", "value": SECRET}],
        "resources": {"cpu_request": "50m", "cpu_limit": "500m", "memory_request": "16Mi", "memory_limit": "64Mi"},
        "probes": {"liveness": LIVE, "readiness": HTTP_READY},
        "replicas": 2, "strategy": "rolling", "keep_previous": 1,
        "network": {"ingress_from": [{"ingress_controller": True}], "egress_to": [{"service": "api", "ports": [8080]}]},
        "expose": {"ingress": {"hostname": "web.local.test", "tls_secret": "web-tls"}},
    }
    spec.update(overrides)
    return spec


def api(image: str) -> dict[str, Any]:
    return {"name": "api", "namespace": "apps", "image": image, "ports": [{"name": "http", "container_port": 8080}],
            "resources": {"cpu_request": "50m", "cpu_limit": "250m", "memory_request": "16Mi", "memory_limit": "32Mi"},
            "probes": {"liveness": LIVE, "readiness": READY}, "replicas": 1,
            "network": {"ingress_from": [{"service": "web"}]}}


def stranger(image: str) -> dict[str, Any]:
    """Declares no peer service: on Kubernetes the default deny keeps it apart; here, separate
    networks. It is published, so it sits on a bridge network of its own with a default route
    (not only loopback): its failed connections are the engine's isolation, not a missing route."""
    return {"name": "stranger", "namespace": "apps", "image": image, "ports": [{"name": "http", "container_port": 8080}],
            "resources": {"cpu_request": "50m", "cpu_limit": "250m", "memory_request": "16Mi", "memory_limit": "32Mi"},
            "probes": {"liveness": LIVE, "readiness": READY}, "replicas": 1,
            "network": {"ingress_from": [{"ingress_controller": True}]},
            "expose": {"ingress": {"hostname": "stranger.local.test", "tls_secret": "stranger-tls"}}}


def release_of(spec: dict[str, Any]) -> str:
    return ContainerServiceSpec.model_validate(spec).release


class Story:
    def __init__(self, stack: Stack, engine: Engine, registry: Registry, edge: Edge) -> None:
        self.stack, self.engine, self.registry, self.edge = stack, engine, registry, edge
        self.edge_port = free_port()
        self.address = f"http://127.0.0.1:{self.edge_port}/"
        """web's fixed address, through the edge proxy, for the whole story."""
        self.v1 = web(registry.ref("1.0.0"))
        self.v2 = web(registry.ref("1.1.0"))
        self.broken = web(registry.ref("never-ready"))
        self.others = [{"spec": api(registry.ref("2.0.0"))}, {"spec": stranger(registry.ref("3.0.0"))}]
        self.timings: dict[str, float] = {}
        self.seed_ids: list[str] = []
        self.traffic: dict[str, dict[str, Any]] = {}

    def up(self, active: dict[str, Any], kept: list[dict[str, Any]], *, check: bool = True,
           what: str = "") -> subprocess.CompletedProcess[str]:
        start = time.monotonic()
        proc = self.stack.up({"spec": active, "kept": kept, "edge_port": self.edge_port}, *self.others, check=check)
        if what:
            self.timings[what] = time.monotonic() - start
        return proc

    def routed(self, release: str, timeout: float = 15.0) -> dict[str, Any]:
        """web's route once the proxy sends it to ``release``."""
        return self.edge.routed(self.edge_port, release, timeout)

    def web_containers(self, release: str | None = None) -> list[dict[str, Any]]:
        labels = {ro.LABEL_NAME: "web", ro.LABEL_ROLE: "active"}
        if release:
            labels[ro.LABEL_RELEASE] = release
        return [self.engine.inspect(n) for n in self.engine.names(**labels)]

    def endpoint(self, container: dict[str, Any]) -> str:
        (binding,) = container["NetworkSettings"]["Ports"]["8080/tcp"]
        assert binding["HostIp"] == "127.0.0.1"
        return f"http://127.0.0.1:{binding['HostPort']}/"


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, engine: Engine, registry: Registry, edge: Edge) -> Iterator[Story]:
    stack = Stack.create(tmp_path_factory.mktemp("story"), engine, edge=edge)
    s = Story(stack, engine, registry, edge)
    yield s
    stack.pulumi("destroy", "--yes", "--skip-preview", check=False)
    print("docker story timings:", json.dumps({k: round(v, 1) for k, v in s.timings.items()}))
    print("traffic through the fixed address:", json.dumps(s.traffic, indent=1))


def test_deploy_pulls_by_digest_and_serves_on_loopback(story: Story) -> None:
    story.up(story.v1, [], what="first deploy")
    out = story.stack.outputs()
    r1 = release_of(story.v1)
    assert out["web_release"] == r1 and out["web_kept_releases"] == []
    containers = story.web_containers()
    assert [c["Config"]["Labels"][ro.LABEL_RELEASE] for c in containers] == [r1, r1]
    for c in containers:
        assert c["State"]["Running"] and c["State"]["Health"]["Status"] == "healthy"
        # Pulled by digest: the container runs exactly the digest of the spec.
        image = story.engine.docker("image", "inspect", c["Image"], "--format", "{{json .RepoDigests}}").stdout
        assert story.v1["image"] in json.loads(image)
        assert c["Name"].lstrip("/").endswith(f"-apps-web-{r1}-{c['Name'][-1]}")
    body = get(out["web_published_endpoint"] + "/")
    assert body["version"] == "1.0.0" and body["config"] == {"app.toml": CONFIG}
    assert body["env"]["LOG_FORMAT"] == "json"
    assert out["web_published_endpoint"].startswith("http://127.0.0.1:")
    # The fixed address: the edge proxy routes it to the two healthy containers of r1.
    assert out["web_address"] == story.address.rstrip("/")
    route = story.routed(r1)
    assert get(story.address)["version"] == "1.0.0"
    assert route["service"] == "web"
    assert sorted(route["upstreams"]) == sorted(story.endpoint(c)[len("http://"):-1] for c in containers)


def test_hardened_run_options_in_docker_inspect(story: Story) -> None:
    for c in story.web_containers():
        host, config = c["HostConfig"], c["Config"]
        assert config["User"] == "10001:10001"
        assert host["ReadonlyRootfs"] is True
        assert host["SecurityOpt"] == ["no-new-privileges:true"]
        assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
        assert host["Privileged"] is False and host["NetworkMode"] != "host"
        assert host["Memory"] == 64 * 2**20 and host["MemorySwap"] == 64 * 2**20
        assert host["MemoryReservation"] == 16 * 2**20
        assert host["NanoCpus"] == 500_000_000 and host["CpuShares"] == 51
        assert host["Tmpfs"] == {"/tmp": ro.SCRATCH_TMPFS_OPTIONS}
        assert host["RestartPolicy"]["Name"] == "unless-stopped"
        # The HTTP readiness probe as an exec-form check of our probe binary: no shell in the image.
        assert config["Healthcheck"]["Test"] == ["CMD", ro.PROBE_PATH, "http", "8080", "/ready", "2"]
        (probe,) = [m for m in c["Mounts"] if m["Destination"] == ro.PROBE_PATH]
        assert probe["Type"] == "bind" and probe["RW"] is False
        assert c["State"]["Health"]["Status"] == "healthy"
        assert config["Healthcheck"]["Interval"] == 1_000_000_000
        # The process really runs as 10001 and cannot write its root file system.
        status = pathlib.Path(f"/proc/{c['State']['Pid']}/status").read_text()
        assert "\nUid:\t10001\t10001\t10001\t10001" in status and "\nNoNewPrivs:\t1" in status
        assert "\nCapEff:\t0000000000000000" in status
        root = pathlib.Path(f"/proc/{c['State']['Pid']}/root")
        with pytest.raises(OSError):
            (root / "written-by-test").write_text("x")  # read-only (from the host's view: EROFS)


def test_config_and_secret_volumes_filled_once_and_read_only(story: Story) -> None:
    (c, _) = story.web_containers()
    mounts = {m["Destination"]: m for m in c["Mounts"]}
    spec = ContainerServiceSpec.model_validate(story.v1)
    config, secret = mounts["/etc/app"], mounts["/var/run/secrets/app"]
    assert config["RW"] is False and secret["RW"] is False
    assert config["Name"].endswith(f"-apps-web-config-{ro.config_key(spec)}")
    assert secret["Name"].endswith(f"-apps-web-secret-{ro.secret_key(spec)}")
    # The files, as the engine stores them (0444 root:root), and the secret nowhere in env.
    secret_file = pathlib.Path(secret["Source"]) / "db-password"
    assert secret_file.read_text() == SECRET and oct(secret_file.stat().st_mode & 0o777) == "0o444"
    assert (pathlib.Path(config["Source"]) / "app.toml").read_text() == CONFIG
    assert not any(SECRET in e for e in c["Config"]["Env"])
    # Seeds: created, never started, no network, and the only writable roots (recorded opt-out).
    seeds = [story.engine.inspect(n) for n in story.engine.names(**{ro.LABEL_NAME: "web", ro.LABEL_ROLE: "seed"})]
    assert len(seeds) == 2
    for seed in seeds:
        assert seed["State"]["Status"] == "created" and seed["State"]["StartedAt"].startswith("0001-")
        assert seed["HostConfig"]["NetworkMode"] == "none"
        assert seed["Config"]["Labels"]["immutable.dev/opt-out-writable-root-filesystem"] == "true"
    story.seed_ids = sorted(s["Id"] for s in seeds)
    # The secret is a Pulumi secret in state: never in clear.
    assert SECRET not in json.dumps(story.stack.state())


def test_exec_opt_out_recorded_and_exec_really_possible(story: Story) -> None:
    out = story.stack.outputs()
    assert "exec_lock" in out["web_opt_outs"]
    c = story.web_containers()[0]
    labels = c["Config"]["Labels"]
    assert labels["immutable.dev/opt-out-exec-lock"] == "true"
    assert labels["immutable.dev/opt-out-reason-exec_lock"] == ro.EXEC_BREAK_GLASS_REASON
    # Why it is an opt-out: the engine has no admission control, exec works.
    assert story.engine.docker("exec", c["Id"], "/bin/testapp", "ready").returncode == 0


def test_network_isolation_with_real_connections(story: Story) -> None:
    def pid(name: str) -> int:
        (c,) = [story.engine.inspect(n) for n in story.engine.names(**{ro.LABEL_NAME: name, ro.LABEL_ROLE: "active"})]
        return int(c["State"]["Pid"])

    def ips(name: str) -> list[str]:
        (c,) = [story.engine.inspect(n) for n in story.engine.names(**{ro.LABEL_NAME: name, ro.LABEL_ROLE: "active"})]
        return [n["IPAddress"] for n in c["NetworkSettings"]["Networks"].values()]

    web_pid = int(story.web_containers()[0]["State"]["Pid"])
    assert ips("stranger") and all(ips("stranger"))  # on a real network, with a route out of its namespace
    route = pathlib.Path(f"/proc/{pid('stranger')}/net/route").read_text()
    assert any(line.split()[1] == "00000000" for line in route.splitlines()[1:])  # a default route
    # Declared on both sides: web reaches api by its Kubernetes names.
    for name in ("api", "api.apps.svc.cluster.local"):
        got = connect_from(web_pid, name, 8080)
        assert got["connected"], (name, got)
    # Undeclared: the stranger resolves nothing and reaches no address of api or web.
    for target in ("api", "web", "api.apps.svc.cluster.local"):
        got = connect_from(pid("stranger"), target, 8080)
        assert got["resolved"] is None and not got["connected"], (target, got)
    for address in [*ips("api"), *(ip for c in story.web_containers()
                                     for ip in (n["IPAddress"] for n in c["NetworkSettings"]["Networks"].values()))]:
        got = connect_from(pid("stranger"), address, 8080, timeout=1.0)
        assert not got["connected"], (address, got)
    # api serves web only: it does not resolve the stranger either, and the pair network is internal.
    assert not connect_from(pid("api"), "stranger", 8080)["connected"]


def test_new_release_beside_old_healthy_first_then_old_removed(story: Story, tmp_path: pathlib.Path) -> None:
    r1, r2 = release_of(story.v1), release_of(story.v2)
    old = story.web_containers(r1)
    old_url = story.endpoint(old[0])
    events_file = tmp_path / "events.jsonl"
    with open(events_file, "w") as fh:
        events = subprocess.Popen([DOCKER_CLI, "events", "--format", "{{json .}}", "--filter", "type=container",
                                   "--filter", "event=create", "--filter", "event=destroy", "--filter",
                                   "event=health_status"], stdout=fh, env=story.engine.docker_env())
        try:
            with LoadGenerator(lambda: old_url, max_seconds=300) as pinned, \
                    LoadGenerator(lambda: story.address, max_seconds=300) as proxied:
                story.up(story.v2, [story.v1], what="new release (rolling, 2 replicas)")
                time.sleep(1)
        finally:
            events.terminate()
            events.wait(timeout=10)
    log = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]

    def when(action: str, release: str) -> list[float]:
        return [e["timeNano"] / 1e9 for e in log if e["Action"].startswith(action)
                and e["Actor"]["Attributes"].get(ro.LABEL_RELEASE) == release
                and e["Actor"]["Attributes"].get(ro.LABEL_ROLE) == "active"]

    created, healthy, destroyed = when("create", r2), when("health_status: healthy", r2), when("destroy", r1)
    assert len(created) == 2 and len(healthy) >= 2 and len(destroyed) == 2, log
    # Beside, not instead: every new container was healthy before the first old one went.
    assert max(healthy[:2]) < min(destroyed)
    assert [c["Config"]["Labels"][ro.LABEL_RELEASE] for c in story.web_containers()] == [r2, r2]
    assert get(story.stack.outputs()["web_published_endpoint"] + "/")["version"] == "1.1.0"
    result, via_proxy = pinned.result, proxied.result
    story.traffic["pinned to the old published port"] = result.summary()
    story.traffic["swap, through the fixed address"] = {**via_proxy.summary(), **moved_at(via_proxy, "1.1.0")}
    print("traffic during the swap:", json.dumps(story.traffic, indent=1))
    # Honest: a client pinned to the old container's port is served by 1.0.0 until the old
    # containers go, then refused (Docker has no stable Service address; see docs/platforms.md).
    assert result.answered() == ["1.0.0"] and result.ok > 0
    # The fixed address follows the release: the proxy moves it to 1.1.0 once both new
    # containers are healthy, before the old ones go, and no request fails.
    assert via_proxy.failed == 0 and via_proxy.answered() == ["1.0.0", "1.1.0"], via_proxy.summary()
    assert story.edge.routes()[str(story.edge_port)]["release"] == r2


def test_kept_release_keeps_image_and_volumes(story: Story) -> None:
    out = story.stack.outputs()
    r1, r2 = release_of(story.v1), release_of(story.v2)
    assert out["web_release"] == r2 and out["web_kept_releases"] == [r1]
    # No containers for the kept release, but its image stays pulled (by digest).
    assert story.web_containers(r1) == []
    assert story.engine.docker("image", "inspect", story.v1["image"]).returncode == 0
    # Same config content: the same volumes and seeds, not re-filled.
    seeds = sorted(story.engine.inspect(n)["Id"] for n in story.engine.names(**{ro.LABEL_NAME: "web",
                                                                               ro.LABEL_ROLE: "seed"}))
    assert seeds == story.seed_ids


def test_rollback_to_the_kept_release(story: Story) -> None:
    r1, r2 = release_of(story.v1), release_of(story.v2)
    with LoadGenerator(lambda: story.address, max_seconds=300) as proxied:
        story.up(story.v1, [story.v2], what="rollback")
        time.sleep(1)
    result = proxied.result
    story.traffic["rollback, through the fixed address"] = {**result.summary(), **moved_at(result, "1.0.0")}
    # The same move back: 0 failed requests at the same address.
    assert result.failed == 0 and result.answered() == ["1.1.0", "1.0.0"], result.summary()
    assert story.edge.routes()[str(story.edge_port)]["release"] == r1
    out = story.stack.outputs()
    assert out["web_release"] == r1 and out["web_kept_releases"] == [r2]
    assert [c["Config"]["Labels"][ro.LABEL_RELEASE] for c in story.web_containers()] == [r1, r1]
    assert get(out["web_published_endpoint"] + "/")["version"] == "1.0.0"


def test_never_healthy_release_fails_and_old_containers_keep_serving(story: Story) -> None:
    r1 = release_of(story.v1)
    before = {c["Id"] for c in story.web_containers(r1)}
    urls = [story.endpoint(c) for c in story.web_containers(r1)]
    with LoadGenerator(lambda: urls[0], max_seconds=600) as traffic, \
            LoadGenerator(lambda: story.address, max_seconds=600) as proxied:
        proc = story.up(story.broken, [story.v1], check=False, what="never-healthy release (fails)")
    assert proc.returncode != 0
    assert "healthy" in (proc.stdout + proc.stderr).lower()
    # The old release was never touched, and served every request while the update failed.
    assert {c["Id"] for c in story.web_containers(r1)} == before
    assert all(c["State"]["Running"] for c in story.web_containers(r1))
    result = traffic.result
    print(f"traffic during the failed update: sent {result.sent}, ok {result.ok}, failed {result.failed}")
    assert result.failed == 0 and result.answered() == ["1.0.0"] and result.ok > 0
    assert get(urls[1])["version"] == "1.0.0"
    # The fixed address never sent a request to the never-healthy release, and none failed.
    via = proxied.result
    story.traffic["never-healthy release, through the fixed address"] = via.summary()
    assert via.failed == 0 and via.answered() == ["1.0.0"] and via.ok > 0, via.summary()
    assert story.edge.routes()[str(story.edge_port)]["release"] == r1
    # The stack still says the old release is active; a good spec recovers.
    story.up(story.v1, [story.v2], what="recover after the failed update")
    assert {c["Id"] for c in story.web_containers(r1)} == before
    assert story.web_containers(release_of(story.broken)) == []


def test_edge_proxy_restart_in_steady_state_answers_again_within_seconds(story: Story) -> None:
    """Caddy killed and started again (docker/edge.py start, as deploy.sh does): the fixed
    address answers again from Caddy's autosaved routes, before the sync has even run."""
    sup = Supervisor(story.edge.state)
    assert get(story.address)["version"] == "1.0.0"
    start = time.monotonic()
    assert sup.terminate("caddy")
    down = time.monotonic()
    proc = story.edge.ctl("start")
    assert proc.returncode == 0, proc.stderr
    answered = None
    while time.monotonic() - start < 30:
        try:
            body = get(story.address, timeout=1)
            answered = time.monotonic()
            break
        except OSError:
            time.sleep(0.05)
    assert answered is not None, "the fixed address did not answer within 30 s of the restart"
    assert body["version"] == "1.0.0"
    story.timings["edge proxy restart: from kill to the first answer"] = answered - start
    print(f"edge proxy restart: stopped in {down - start:.2f}s, answering again {answered - start:.2f}s after the kill")


def test_without_the_edge_proxy_nothing_is_deployed_and_the_error_says_how_to_start_it(
        tmp_path: pathlib.Path, engine: Engine, registry: Registry) -> None:
    stack = Stack.create(tmp_path, engine, name="noproxy")  # its edge state names no running proxy
    spec = web(registry.ref("1.0.0"), name="lonely")
    before = {c["ID"] for c in engine.containers()}
    proc = stack.up({"spec": spec, "edge_port": free_port()}, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "edge proxy" in out and "not running" in out and "python3 docker/edge.py start" in out, out
    # Nothing at all was registered: no network, no image pull, no container.
    resources = stack.state()["deployment"].get("resources") or []
    assert [r["type"] for r in resources if not r["type"].startswith("pulumi:")] == [], resources
    assert {c["ID"] for c in engine.containers()} == before
