"""The example project (stacks/) with `target: local-docker`, on the project's engine through the
bridged provider (which checks every input of every Docker resource against its schema).

- The preview of the committed dev stack: the hardened inputs, web's fixed address declared by
  its release (labels), HTTP probes run by our probe binary; without the edge proxy the preview
  says how to start it.
- The real deploy (one module workspace, in order): the example apps (web, api, worker, from
  testapp/) are built by `registry/apps.py build dev` into the docker tier's registry (a private
  port; the committed ledger names 127.0.0.1:5000, the machine-wide one, so the copy drops those
  entries and the build step appends its own) and deployed by `pulumi up`. web answers at its
  fixed address (the edge proxy, `default_edge_port("web")`) with its release and version and
  the api release it reached by api's Kubernetes name; api shows its config and secret digest,
  never the secret; worker runs and its health check passes. The release ids are those the same
  ledger gives on Kubernetes (the render target's manifests, previewed in the same test). Then
  the README's Tour on Docker: web's greeting changed, web alone rebuilt and deployed, and
  `immutable-ops rollback dev --service web` (without DOCKER_HOST, as from a shell after
  scripts/deploy.sh), each under a bounded load generator through the fixed address with 0
  failed requests.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from immutable_infra.docker import run_options as ro
from immutable_infra.docker.edge import default_edge_port

from tests.docker.harness import PROBE, ROOT, Edge, Engine, LoadGenerator, Registry, moved_at
from tests.engine.harness import DEV_SECRET, Workspace, changed, resource_type
from tests.ops.support import explain, run_ops

pytestmark = [pytest.mark.docker, pytest.mark.engine]


def test_dev_on_local_docker_previews_through_the_bridged_provider(tmp_path: pathlib.Path, engine: Engine,
                                                                   edge: Edge) -> None:
    ws = Workspace.create(tmp_path, target="local-docker")
    ws.env["DOCKER_HOST"] = engine.host
    ws.env["IMMUTABLE_EDGE_STATE"] = str(edge.state)
    ws.env["IMMUTABLE_PROBE_BINARY"] = str(PROBE)
    ws.init_stack()
    steps = ws.preview_steps()
    types = [resource_type(s["urn"]) for s in changed(steps)]
    assert types.count("docker:index/container:Container") >= 3  # web, api, worker (plus seeds)
    assert "docker:index/remoteImage:RemoteImage" in types and "docker:index/network:Network" in types
    assert not any(t.startswith("kubernetes:") for t in types)
    containers = [s for s in changed(steps) if resource_type(s["urn"]) == "docker:index/container:Container"]
    for step in containers:
        news = step["newState"]["inputs"]
        assert news["capabilities"]["drops"] == ["ALL"] and news["privileged"] is False
    web = next(i for i in (s["newState"]["inputs"] for s in containers)
               if "-web-" in i["name"] and i.get("healthcheck"))  # web's first container (seeds have no check)
    # The fixed address is declared by the release (labels); the HTTP probe runs our binary, no shell.
    labels = {item["label"]: item["value"] for item in web["labels"]}
    assert labels[ro.LABEL_EDGE_PORT] == str(default_edge_port("web"))
    assert web["healthcheck"]["tests"][:3] == ["CMD", ro.PROBE_PATH, "http"]


def test_without_the_edge_proxy_the_preview_says_how_to_start_it(tmp_path: pathlib.Path, engine: Engine) -> None:
    ws = Workspace.create(tmp_path, target="local-docker")
    ws.env["DOCKER_HOST"] = engine.host
    ws.env["IMMUTABLE_EDGE_STATE"] = str(tmp_path / "no-edge-proxy")
    ws.env["IMMUTABLE_PROBE_BINARY"] = str(PROBE)
    ws.init_stack()
    proc = ws.pulumi("preview", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "python3 docker/edge.py start" in out, out


# --- the example, deployed -------------------------------------------------------------------

APPS = ("web", "api", "worker")
GREETING = "Hello from web, built from source in this repository."
CHANGED = "Hello from web, changed in the tour."
TOUR_SED = f"sed -i 's/^const greeting = .*/const greeting = \"{CHANGED}\"/' testapp/web.go"
"""The README Tour's edit of web's source, run in the copy."""
APPS_PY = ROOT / "registry" / "apps.py"


def web_release(body: bytes) -> str:
    """Which web release served the page (what the load generator counts); a page without the
    api release it reached is no answer."""
    text = body.decode()
    found = re.search(r"^web release (\S+) version ", text, re.M)
    if found is None or "\napi release " not in text:
        raise ValueError(f"not web's page: {text[:200]!r}")
    return found.group(1)


@dataclass
class Example:
    ws: Workspace
    engine: Engine
    edge: Edge
    registry: Registry
    timings: dict[str, float] = field(default_factory=dict)
    traffic: dict[str, dict[str, Any]] = field(default_factory=dict)

    def build(self, what: str) -> dict[str, Any]:
        """The pipeline's image build step on the copy's testapp/ and ledger."""
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, str(APPS_PY), "build", "dev", "--project", str(self.ws.dir),
                               "--source", str(self.ws.dir / "testapp"), "--json"], env=self.ws.env,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"registry/apps.py build dev failed:\n{proc.stdout}\n{proc.stderr}"
        self.timings[what] = time.monotonic() - t0
        out: dict[str, Any] = json.loads(proc.stdout)
        return out

    def up(self, what: str) -> None:
        t0 = time.monotonic()
        self.ws.pulumi("up", "--yes", "--skip-preview", "-s", "dev")  # records first, as scripts/deploy.sh
        self.timings[what] = time.monotonic() - t0

    def outputs(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.ws.pulumi("stack", "output", "--json", "-s", "dev").stdout)
        return out

    def routed(self, release: str) -> None:
        """Wait until the edge proxy sends web's fixed port to ``release``."""
        self.edge.routed(default_edge_port("web"), release, timeout=20.0)

    def page(self) -> str:
        url = self.outputs()["web_address"] + "/"
        assert url.startswith("http://127.0.0.1:"), url
        with urllib.request.urlopen(url, timeout=10) as resp:
            return str(resp.read().decode())

    def active(self, service: str) -> list[dict[str, Any]]:
        return [self.engine.inspect(n) for n in self.engine.names(**{ro.LABEL_NAME: service, ro.LABEL_ROLE: "active"})]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory, engine: Engine, registry: Registry,
            edge: Edge) -> Iterator[Example]:
    if shutil.which("go") is None:  # the apps are built from source
        if os.environ.get("CI"):
            pytest.fail("go is not on PATH: the example apps are built from source (scripts/test.sh has it)")
        pytest.skip("go is not on PATH")
    port = default_edge_port("web")
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:  # another run's proxy would answer instead of ours
            pytest.fail(f"127.0.0.1:{port}, web's fixed address, is taken by another process: the example "
                        "deploys with the same fixed ports everywhere; stop that stack or proxy first")
    tmp = tmp_path_factory.mktemp("example")
    ws = Workspace.create(tmp, target="local-docker")
    shutil.copytree(ROOT / "testapp", ws.dir / "testapp")
    # The committed ledger names 127.0.0.1:5000, the machine-wide registry tests leave alone: the
    # copy drops the apps' entries and the build step appends its own (as on a fresh checkout).
    data = ws.config()
    for app in APPS:
        del data["config"]["immutable:ledger"][app]
    ws.write_config(data)
    ws.env.update({"DOCKER_HOST": engine.host, "IMMUTABLE_EDGE_STATE": str(edge.state),
                   "IMMUTABLE_PROBE_BINARY": str(PROBE), "IMMUTABLE_REGISTRY_STATE": str(registry.state),
                   "IMMUTABLE_APPS_CACHE": str(tmp / "apps-cache")})
    ws.init_stack()
    ex = Example(ws, engine, edge, registry)
    try:
        yield ex
    finally:
        ws.pulumi("destroy", "--yes", "--skip-preview", "-s", "dev", check=False)
        print("example on docker, timings:", json.dumps({k: round(v, 1) for k, v in ex.timings.items()}))
        print("example on docker, traffic through web's fixed address:", json.dumps(ex.traffic, indent=1))


def test_the_example_apps_deploy_and_answer_at_web_fixed_address(example: Example) -> None:
    built = example.build("registry/apps.py build dev (web, api, worker)")
    assert sorted(built["pushed"]) == sorted(APPS) and [r["app"] for r in built["recorded"]] == list(APPS)
    ledger = example.ws.config()["config"]["immutable:ledger"]
    for app in APPS:
        assert ledger[app]["releases"][-1]["artifact"].startswith(f"{example.registry.address}/apps/{app}@sha256:")
    example.up("first deploy (3 services)")
    out = example.outputs()
    assert out["target"] == "local-docker"
    assert out["web_address"] == f"http://127.0.0.1:{default_edge_port('web')}"
    example.routed(out["web_release"])
    page = example.page()
    # web names its release and version, and the api release it reached by api's Kubernetes name.
    assert GREETING in page and f"web release {out['web_release']} version 1.0.0" in page
    assert f"api release {out['api_release']} version 1.0.0 (config and secret sha256 " in page
    (web,) = example.active("web")
    assert "API_URL=http://api.apps.svc.cluster.local:8080" in web["Config"]["Env"]
    (api,) = example.active("api")
    aliases = {a for n in api["NetworkSettings"]["Networks"].values() for a in (n.get("Aliases") or [])}
    assert "api.apps.svc.cluster.local" in aliases, aliases
    # api's digest is over the files really mounted (config and secret); the secret never shows.
    assert DEV_SECRET not in page
    assert f"sha256 {mounted_digest(api)})" in page, page
    assert DEV_SECRET not in json.dumps(example.ws.export())  # a Pulumi secret in state: never in clear
    # worker runs, and its health check (its readiness command, exec form) passes.
    (worker,) = example.active("worker")
    assert worker["State"]["Running"] and worker["State"]["Health"]["Status"] == "healthy"
    assert worker["Config"]["Healthcheck"]["Test"] == ["CMD", "/bin/worker", "ready"]
    assert worker["Config"]["Labels"][ro.LABEL_RELEASE] == out["worker_release"]


def mounted_digest(api: dict[str, Any]) -> str:
    """api's digest (testapp/api.go mountedDigest), computed from the host side of its mounts."""
    mounts = {m["Destination"]: pathlib.Path(m["Source"]) for m in api["Mounts"]}
    h = hashlib.sha256()
    secret_seen = False
    for directory in ("/etc/app", "/var/run/secrets/app"):
        for f in sorted(p for p in mounts[directory].iterdir() if p.is_file() and not p.name.startswith("..")):
            content = f.read_bytes()
            secret_seen |= content == DEV_SECRET.encode()
            h.update(f"{directory}/{f.name}\0".encode() + content + b"\0")
    assert secret_seen, "the dev secret is not among api's mounted files"
    return h.hexdigest()


def test_the_release_ids_are_those_of_the_same_ledger_on_kubernetes(example: Example,
                                                                    tmp_path: pathlib.Path) -> None:
    # The same workspace (ledger, records, topology), previewed on the render target: the
    # Kubernetes Deployments it would create carry the release ids.
    project = tmp_path / "project"
    shutil.copytree(example.ws.dir, project, ignore=shutil.ignore_patterns("testapp", "build", "__pycache__"))
    backend = tmp_path / "backend"
    backend.mkdir()
    render = Workspace(project, {**example.ws.env, "PULUMI_BACKEND_URL": backend.as_uri()}, auto_record=False)
    data = render.config()
    data["config"]["immutable:environment"]["target"] = "render"
    render.write_config(data)
    render.init_stack()
    on_kubernetes = {}
    for step in render.preview_steps():
        if resource_type(step["urn"]) == "kubernetes:apps/v1:Deployment":
            labels = step["newState"]["inputs"]["metadata"]["labels"]
            if labels[ro.LABEL_ROLE] == "active":
                on_kubernetes[labels[ro.LABEL_NAME]] = labels[ro.LABEL_RELEASE]
    out = example.outputs()
    on_docker = {app: out[f"{app}_release"] for app in APPS}
    assert on_docker == on_kubernetes, (on_docker, on_kubernetes)
    # ... and those the containers carry, and those the ledger recorded.
    assert {app: example.active(app)[0]["Config"]["Labels"][ro.LABEL_RELEASE] for app in APPS} == on_docker
    ledger = example.ws.config()["config"]["immutable:ledger"]
    assert {app: ledger[app]["releases"][-1]["release"] for app in APPS} == on_docker


def test_a_web_change_and_its_rollback_fail_no_request_at_the_fixed_address(example: Example) -> None:
    before = example.outputs()
    old, address = before["web_release"], before["web_address"] + "/"
    edit = subprocess.run(["bash", "-c", TOUR_SED], cwd=example.ws.dir, capture_output=True, text=True, timeout=30)
    assert edit.returncode == 0 and CHANGED in (example.ws.dir / "testapp" / "web.go").read_text(), edit.stderr
    built = example.build("registry/apps.py build dev (web changed)")
    assert list(built["built"]) == ["web"] and [r["app"] for r in built["recorded"]] == ["web"], built
    with LoadGenerator(lambda: address, answered_by=web_release, max_seconds=300) as swap:
        example.up("web change (blue-green, 1 replica)")
        new = example.outputs()["web_release"]
        example.routed(new)
        time.sleep(1)
    example.traffic["web change"] = {**swap.result.summary(), **moved_at(swap.result, new)}
    assert new != old and swap.result.failed == 0, swap.result.summary()
    assert swap.result.answered() == [old, new], swap.result.summary()
    after = example.outputs()
    assert after["web_kept_releases"] == [old]
    assert (after["api_release"], after["worker_release"]) == (before["api_release"], before["worker_release"])
    assert [c["Config"]["Labels"][ro.LABEL_RELEASE] for c in example.active("web")] == [new]  # the old one went
    page = example.page()
    assert CHANGED in page and f"web release {new} version 1.0.0" in page

    # As from a user's shell after scripts/deploy.sh: no DOCKER_HOST (the script exported it for its
    # own run); the program finds the project's engine by its state directory.
    shell = {k: v for k, v in example.ws.env.items() if k != "DOCKER_HOST"}
    shell["IMMUTABLE_DOCKER_STATE"] = str(example.engine.state)
    with LoadGenerator(lambda: address, answered_by=web_release, max_seconds=300) as back:
        t0 = time.monotonic()
        proc = run_ops(example.ws.dir, shell, "rollback", "dev", "--service", "web", "--format", "json")
        example.timings["immutable-ops rollback dev --service web"] = time.monotonic() - t0
        assert proc.returncode == 0, explain(proc)
        example.routed(old)
        time.sleep(1)
    example.traffic["rollback"] = {**back.result.summary(), **moved_at(back.result, old)}
    rolled = json.loads(proc.stdout)
    # web's container of the kept release created, the other deleted, nothing else: the program
    # reached the same engine with the same provider input as the deploys that had DOCKER_HOST.
    assert rolled["changes"].get("create") == 1 and rolled["changes"].get("delete") == 1, rolled
    assert set(rolled["changes"]) <= {"create", "delete", "same"}, rolled
    example.timings["rollback: its pulumi up"] = rolled["up_seconds"]
    assert rolled["to"] == old and rolled["from"] == new
    assert [c["Config"]["Labels"][ro.LABEL_RELEASE] for c in example.active("web")] == [old]
    assert back.result.failed == 0 and back.result.answered() == [new, old], back.result.summary()
    page = example.page()
    assert GREETING in page and f"web release {old} version 1.0.0" in page
    assert example.outputs()["web_release"] == old
