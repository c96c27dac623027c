"""The dev stack on a REAL node (issue #21): containerd + runc, kubelet, kube-proxy, CNI bridge
(cluster/node.py), the project's own test app (testapp/) pulled by digest from the local
registry (registry/), and real traffic through every swap.

A bounded load generator of our own (tests/cluster/load.py) runs in a network namespace this
module creates (veth to the host, 10.90.0.0/30) and sends requests to the Service's ClusterIP;
kube-proxy's iptables rules carry them to the pods. For each swap it records every failed
request, which release answered each request, and the cutover moment. One workspace is deployed
once; the tests run in file order on the state the previous one left. Measurements go to
<tmp>/real-node-measurements.json and are printed (run with -s).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.kube import BIN, Cluster, kill_plugins_left_in
from tests.cluster.realnode import NETNS, NS, M, cluster_ip, sh, traffic, wall
from tests.engine.harness import PULUMI, Workspace, toolchain_missing

pytestmark = [pytest.mark.engine, pytest.mark.cluster, pytest.mark.slow,
              pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]

LOCK_PREFIX = "immutable-infra exec lock:"
BREAK_GLASS_GROUPS = ["system:masters", "immutable:break-glass"]


def _version_of(real: Cluster) -> dict[str, str]:
    """image reference -> test app version, for every pushed version."""
    images = real.images()
    return {f"{images['address']}/testapp@{v['digest']}": tag.split(":", 1)[1]
            for tag, v in images["images"].items() if tag.startswith("testapp:")}


@pytest.fixture(scope="module")
def ws(real: Cluster, netns: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    w = Workspace.create(tmp_path_factory.mktemp("real-node"), target="local-cluster")
    # This workspace's copy of the topology keeps web's previous release warm (running, out of
    # the Service): the rollback measured here is "to a kept warm release" (issue #21, goal 0.2x).
    topology = w.dir / "stacks" / "topology.py"
    text = topology.read_text()
    assert '"keep_mode": "scaled-to-zero"' in text
    topology.write_text(text.replace('"keep_mode": "scaled-to-zero"', '"keep_mode": "warm"', 1))
    data = w.config()
    env = data["config"]["immutable:environment"]
    env["kubeconfig"] = str(real.kubeconfig)
    env["services"]["web"].update({"replicas": 2, "rollout_timeout_seconds": 30})
    env["services"]["api"] = {"replicas": 2}
    ledger = data["config"]["immutable:ledger"]
    for svc in ("web", "api", "worker"):
        ledger[svc] = {"releases": [{"artifact": real.testapp_ref("1.0.0"), "note": f"{svc} testapp 1.0.0"}]}
    w.write_config(data)
    w.env["PULUMI_DEBUG_COMMANDS"] = "true"  # enables `up --event-log` (per-step timings)
    w.init_stack("dev")
    try:
        yield w
    finally:
        w.pulumi("destroy", "--yes", "-s", "dev", check=False, timeout=600)
        out = tmp_path_factory.getbasetemp() / "real-node-measurements.json"
        out.write_text(json.dumps(M, indent=2) + "\n")
        print(f"\nreal node measurements ({out}):\n{json.dumps(M, indent=2)}")


def up(ws: Workspace, *args: str, check: bool = True, timeout: int = 600) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.monotonic()
    proc = ws.pulumi("up", "--yes", "--skip-preview", "-s", "dev", *args, check=check, timeout=timeout)
    return time.monotonic() - t0, proc


def up_with_events(ws: Workspace, path: pathlib.Path) -> tuple[float, dict[str, Any]]:
    """`pulumi up` with an event log, and where its wall time went: CLI and program start until
    the first resource step, each changed resource's step (pre -> outputs event), the rest."""
    path.unlink(missing_ok=True)
    t0 = time.time()
    seconds, _ = up(ws, "--event-log", str(path))
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    pre: dict[str, float] = {}
    steps: dict[str, float] = {}
    first_step = None
    for ev in events:
        ts = float(ev.get("timestamp", 0))
        if "resourcePreEvent" in ev:
            meta = ev["resourcePreEvent"]["metadata"]
            if meta["op"] != "same":
                pre[meta["urn"]] = ts
                first_step = ts if first_step is None else first_step
        elif "resOutputsEvent" in ev:
            meta = ev["resOutputsEvent"]["metadata"]
            if meta["urn"] in pre:
                name = meta["urn"].rsplit("::", 1)[1]
                steps[f"{meta['op']} {meta['type'].rsplit(':', 1)[-1]} {name}"] = ts - pre[meta["urn"]]
    breakdown = {"wall_seconds": round(seconds, 1),
                 "until_first_change_seconds": round((first_step or t0) - t0, 1),
                 "changed_steps_seconds": {k: round(v, 1) for k, v in sorted(steps.items(), key=lambda kv: -kv[1])}}
    return seconds, breakdown


def outputs(ws: Workspace) -> dict[str, Any]:
    return json.loads(ws.pulumi("stack", "output", "--json", "-s", "dev").stdout)  # type: ignore[no-any-return]


def set_web(ws: Workspace, releases: list[str], active: str | None = None, service: str = "web") -> None:
    """The service's ledger lists ``releases``. When they start with what it lists already (an
    append), its entries are kept as they are: their recorded ids and serving events
    (docs/releases.md); a release that served, then a rollback, lists one artifact twice."""
    data = ws.config()
    old = (data["config"]["immutable:ledger"].get(service) or {}).get("releases", [])
    kept = old if [e["artifact"] for e in old] == releases[:len(old)] else []
    entry: dict[str, Any] = {"releases": [*kept, *({"artifact": a} for a in releases[len(kept):])]}
    if active:
        entry["active"] = active
    data["config"]["immutable:ledger"][service] = entry
    ws.write_config(data)


def releases_of(ws: Workspace, service: str = "web") -> list[str]:
    return [r["artifact"] for r in ws.config()["config"]["immutable:ledger"][service]["releases"]]


# --- 1. deploy -----------------------------------------------------------------------------------

def _containers(real: Cluster) -> list[dict[str, Any]]:
    return [s for p in real.get("pods", "-n", NS)["items"] for s in p["status"].get("containerStatuses", [])]


def test_1_dev_stack_runs_real_containers_from_the_local_registry(real: Cluster, ws: Workspace) -> None:
    seconds, _ = up(ws)
    M["first_up_seconds"] = round(seconds, 1)
    node = real.get("node", "immutable-node")
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    statuses = _containers(real)
    assert len(statuses) == 5, statuses  # web 2, api 2, worker 1
    digest_100 = real.testapp_ref("1.0.0").split("@")[1]
    for s in statuses:
        assert s["ready"] and s["containerID"].startswith("containerd://"), s
        assert s["imageID"].endswith(digest_100), s  # the digest the ledger names is the digest that runs
    # The api pod reports its release: version, its config file, masked secret-looking env.
    # The Services are new: `up` returns once the pods are ready and the Service exists (its own
    # await, a fixed 10 s sleep, is skipped), and kube-proxy programs a new address within moments.
    api = cluster_ip(real, "api")
    t0 = time.monotonic()
    while True:
        answer = sh("ip", "netns", "exec", NETNS, sys.executable, "-c",
                     f"import urllib.request; print(urllib.request.urlopen({api!r}, timeout=5).read().decode())",
                     check=False)
        if answer.returncode == 0 or time.monotonic() - t0 > 30:
            break
        time.sleep(0.1)
    assert answer.returncode == 0, answer.stderr
    M["first_up_new_service_answers_after_seconds"] = round(time.monotonic() - t0, 2)
    body = answer.stdout
    report = json.loads(body)
    assert report["version"] == "1.0.0"
    assert "max_body_kb = 512" in report["config"]["api.toml"]
    assert report["env"]["DATABASE_URL"] == "***"


# --- 2. blue-green swap under traffic ------------------------------------------------------------

def _raw_rolling_update_seconds(real: Cluster, replicas: int) -> float:
    """A plain Deployment of the same size and probes (test app 2.0.0 -> 2.1.0), `kubectl rollout status`."""
    real.kubectl("create", "namespace", "bench", check=False)
    deadline = time.monotonic() + 60
    while real.kubectl("get", "serviceaccount", "default", "-n", "bench", check=False).returncode != 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    probe = {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5}
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "raw", "namespace": "bench"},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "raw"}},
                         "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
                         "template": {"metadata": {"labels": {"app": "raw"}}, "spec": {"containers": [{
                             "name": "app", "image": real.testapp_ref("2.0.0"), "ports": [{"containerPort": 8080}],
                             "readinessProbe": probe,
                             "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10}}]}}}}
    real.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    real.kubectl("rollout", "status", "deployment/raw", "-n", "bench", "--timeout=180s", timeout=200)
    t0 = time.monotonic()
    real.kubectl("set", "image", "deployment/raw", "-n", "bench", f"app={real.testapp_ref('2.1.0')}")
    real.kubectl("rollout", "status", "deployment/raw", "-n", "bench", "--timeout=180s", timeout=200)
    seconds = time.monotonic() - t0
    real.kubectl("delete", "namespace", "bench", "--wait=false")
    return seconds


def test_2_blue_green_swap_loses_no_request(real: Cluster, ws: Workspace, tmp_path: pathlib.Path) -> None:
    old_release = outputs(ws)["web_release"]
    deps = real.watch(f"/apis/apps/v1/namespaces/{NS}/deployments")
    with traffic(real, "web", "blue_green_swap", tmp_path) as load:
        t0 = time.time()
        set_web(ws, [*releases_of(ws), real.testapp_ref("1.1.0")])
        seconds, breakdown = up_with_events(ws, tmp_path / "swap-events.jsonl")
    M["blue_green_swap_breakdown"] = breakdown
    new_name = f"web-{outputs(ws)['web_release']}"
    created = next(ev for ev in deps.stop() if ev.name == new_name)
    assert not load.failed, load.summary()
    assert load.versions[0] == "1.0.0" and load.versions[-1] == "1.1.0", load.summary()
    cut = load.cutover("1.0.0", "1.1.0")
    M["blue_green_swap_up_seconds"] = round(seconds, 1)
    M["blue_green_swap_cutover_after_up_start_seconds"] = round((cut["first_new"] or t0) - t0, 1)
    M["blue_green_swap_cutover_overlap_seconds"] = cut["overlap_seconds"]
    out = outputs(ws)
    assert out["web_release"] != old_release and out["web_kept_releases"] == [old_release]
    raw = _raw_rolling_update_seconds(real, 2)
    M["raw_rolling_update_seconds"] = round(raw, 1)
    M["swap_vs_raw_rolling_ratio_up"] = round(seconds / raw, 2)
    # In the cluster: the new release's Deployment created -> first request answered by it.
    in_cluster = (cut["first_new"] or 0) - wall(created.t)
    M["blue_green_swap_in_cluster_seconds"] = round(in_cluster, 2)
    M["swap_vs_raw_rolling_ratio_in_cluster"] = round(in_cluster / raw, 2)


# --- 3. rollback under traffic -------------------------------------------------------------------

def ops(ws: Workspace, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """``immutable-ops`` as a user runs it, with the cluster's kubectl (for the traffic-first move)."""
    env = {**ws.env, "IMMUTABLE_KUBECTL": str(BIN / "kubectl")}
    return subprocess.run([sys.executable, "-m", "immutable_infra.ops", "-C", str(ws.dir), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_3_rollback_to_the_kept_release_loses_no_request(real: Cluster, ws: Workspace, tmp_path: pathlib.Path) -> None:
    kept = outputs(ws)["web_kept_releases"][0]
    svc = real.watch(f"/api/v1/namespaces/{NS}/services?fieldSelector=metadata.name%3Dweb")
    with traffic(real, "web", "rollback", tmp_path) as load:
        t0 = time.time()
        proc = ops(ws, "rollback", "dev", "--service", "web", "--format", "json")
        seconds = time.time() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    # The kept release is warm: the traffic moved before the update, which then recorded it.
    assert result["traffic_first"] is True, result
    moved = next(ev for ev in svc.stop() if ev.obj["spec"]["selector"].get("immutable.dev/release") == kept)
    cut = load.cutover("1.1.0", "1.0.0")
    # In the cluster: the Service selector moved back -> first request answered by the kept release.
    in_cluster = (cut["first_new"] or 0) - wall(moved.t)
    M["rollback_in_cluster_seconds"] = round(in_cluster, 2)
    M["rollback_vs_fresh_deploy_ratio_in_cluster"] = round(in_cluster / M["blue_green_swap_in_cluster_seconds"], 2)
    assert not load.failed, load.summary()
    assert load.versions[0] == "1.1.0" and load.versions[-1] == "1.0.0", load.summary()
    assert outputs(ws)["web_release"] == kept
    last = ws.config()["config"]["immutable:ledger"]["web"]["releases"][-1]  # an event in the serving order
    assert (last["release"], last["event"]) == (kept, "rollback")
    # The update that followed owns the selector again, by server-side apply (the provider took
    # back the field the move wrote under its client-side-apply name).
    assert _selector_owners(real) == {("Apply", True)}, _selector_owners(real)
    M["rollback_command_seconds"] = round(seconds, 1)
    M["rollback_up_seconds"] = result["up_seconds"]
    M["rollback_traffic_moved_seconds"] = result["traffic_seconds"]
    M["rollback_cutover_after_command_start_seconds"] = round((cut["first_new"] or t0) - t0, 1)
    M["rollback_cutover_overlap_seconds"] = cut["overlap_seconds"]
    # Rollback vs a fresh deploy (the swap: record + up of a new release), both from the command's
    # start to the first request answered by the release that takes over, and whole commands.
    M["rollback_vs_fresh_deploy_ratio_cutover"] = round(
        M["rollback_cutover_after_command_start_seconds"] / M["blue_green_swap_cutover_after_up_start_seconds"], 2)
    M["rollback_vs_fresh_deploy_ratio_command"] = round(seconds / M["blue_green_swap_up_seconds"], 2)


def _selector_owners(real: Cluster) -> set[tuple[str, bool]]:
    """(operation, is a pulumi-kubernetes server-side-apply manager) of whoever owns the web Service's selector."""
    fields = real.get("service", "web", "-n", NS, "--show-managed-fields")["metadata"]["managedFields"]
    return {(f["operation"], f["manager"].startswith("pulumi-kubernetes-")) for f in fields
            if "f:selector" in f.get("fieldsV1", {}).get("f:spec", {})}  # an atomic map: owned whole


def test_3b_a_failed_rollback_moves_the_traffic_back(real: Cluster, ws: Workspace, tmp_path: pathlib.Path) -> None:
    """The traffic moved first, then the update failed (here: a bad knob elsewhere in the stack):
    the Service goes back to the release state has, and the ledger is restored byte for byte."""
    serving = outputs(ws)["web_release"]
    config = ws.dir / "Pulumi.dev.yaml"
    good = config.read_text()
    data = ws.config()
    data["config"]["immutable:environment"]["services"]["worker"]["replicas"] = -1
    ws.write_config(data)
    broken = config.read_text()
    svc = real.watch(f"/api/v1/namespaces/{NS}/services?fieldSelector=metadata.name%3Dweb")
    try:
        with traffic(real, "web", "failed_rollback", tmp_path) as load:
            proc = ops(ws, "rollback", "dev", "--service", "web")
        selectors = [ev.obj["spec"]["selector"].get("immutable.dev/release") for ev in svc.stop()]
        assert proc.returncode != 0, proc.stdout
        assert f"the traffic was moved back to {serving}" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        assert "worker" in proc.stdout + proc.stderr  # the engine's own error names the bad knob
        assert config.read_text() == broken  # the ledger edit was undone
        assert real.get("service", "web", "-n", NS)["spec"]["selector"]["immutable.dev/release"] == serving
        assert serving in selectors and len(set(selectors)) == 2, selectors  # it did move, and came back
        assert not load.failed, load.summary()
        assert load.versions[-1] == load.versions[0], load.summary()
    finally:
        config.write_text(good)
    # The stack is as it was: a no-op update. And the selector's field is one the provider treats
    # as its own (its client-side-apply name), so the next swap's preview does not conflict (test 6).
    assert _selector_owners(real) == {("Update", False)}, _selector_owners(real)
    _, result = up(ws)
    assert "update" not in json.dumps(_summary(result.stdout)), result.stdout


def _summary(stdout: str) -> dict[str, int]:
    """``Resources:`` lines of a ``pulumi up`` (``N updated``...)."""
    counts: dict[str, int] = {}
    for line in stdout.splitlines():
        match = re.match(r"\s+(\d+) (created|updated|deleted|replaced)", line)
        if match:
            counts[match.group(2)] = int(match.group(1))
    return counts


# --- 4. rolling update under traffic -------------------------------------------------------------

def test_4_rolling_update_loses_no_request(real: Cluster, ws: Workspace, tmp_path: pathlib.Path) -> None:
    with traffic(real, "api", "rolling_update", tmp_path) as load:
        set_web(ws, [*releases_of(ws, "api"), real.testapp_ref("2.0.0")], service="api")
        seconds, _ = up(ws)
    assert not load.failed, load.summary()
    assert load.versions[0] == "1.0.0" and load.versions[-1] == "2.0.0", load.summary()
    M["rolling_update_up_seconds"] = round(seconds, 1)
    M["rolling_update_overlap_seconds"] = load.cutover("1.0.0", "2.0.0")["overlap_seconds"]


# --- 5. a release that never becomes ready -------------------------------------------------------

def test_5_never_ready_release_fails_the_update_and_the_old_one_keeps_answering(
        real: Cluster, ws: Workspace, tmp_path: pathlib.Path) -> None:
    serving = outputs(ws)["web_release"]
    before = ws.config()["config"]["immutable:ledger"]["web"]
    with traffic(real, "web", "never_ready", tmp_path) as load:
        images = real.images()
        never = f"{images['address']}/testapp@{images['images']['testapp:never-ready']['digest']}"
        set_web(ws, [*releases_of(ws), never])
        seconds, proc = up(ws, check=False)
    M["never_ready_up_seconds"] = round(seconds, 1)
    assert proc.returncode != 0, proc.stdout
    assert not load.failed, load.summary()
    assert set(load.versions) == {"1.0.0"}, load.summary()
    assert real.get("service", "web", "-n", NS)["spec"]["selector"]["immutable.dev/release"] == serving
    data = ws.config()
    data["config"]["immutable:ledger"]["web"] = before
    ws.write_config(data)
    up(ws)
    assert outputs(ws)["web_release"] == serving


# --- 6. `pulumi up` killed mid-swap --------------------------------------------------------------


def test_6_killed_up_mid_swap_loses_no_request_and_the_next_up_converges(
        real: Cluster, ws: Workspace, tmp_path: pathlib.Path) -> None:
    before = {d["metadata"]["name"] for d in real.get("deployments", "-n", NS)["items"]}
    with traffic(real, "web", "killed_up", tmp_path) as load:
        set_web(ws, [*releases_of(ws), real.testapp_ref("2.0.0")])
        ws.record()  # what `up` through the harness does first
        proc = subprocess.Popen([str(PULUMI), "up", "--yes", "--skip-preview", "-s", "dev", "--non-interactive"],
                                cwd=ws.dir, env=ws.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        output: list[str] = []
        threading.Thread(target=lambda: output.extend(proc.stdout or []), daemon=True).start()
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and proc.poll() is None:
                names = {d["metadata"]["name"] for d in real.get("deployments", "-n", NS)["items"]}
                if names - before:
                    break
                time.sleep(0.3)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        assert proc.returncode == -signal.SIGKILL, "".join(output)
        kill_plugins_left_in(ws.dir)
        # The new release's Deployment was being created (awaiting readiness) when the CLI died.
        assert any(op["type"] == "creating" and op["resource"]["type"] == "kubernetes:apps/v1:Deployment"
                   for op in ws.export()["deployment"].get("pending_operations") or [])
        time.sleep(5)  # traffic while the swap is left half done
        t0 = time.monotonic()
        # The main job's recovery (scripts/deploy.sh): the killed update's lock, then the pending
        # creates (components/ops/pending.py), then the update.
        ops = [sys.executable, "-m", "immutable_infra.ops", "-C", str(ws.dir)]
        stale = subprocess.run([*ops, "stale-lock", "dev"], cwd=ws.dir, env=ws.env, capture_output=True, text=True,
                               timeout=120)
        assert stale.returncode == 0, stale.stdout + stale.stderr
        ws.pulumi("cancel", "--yes", "-s", "dev")
        settled = subprocess.run([*ops, "converge", "dev", "before"], env=ws.env, capture_output=True, text=True,
                                 timeout=300)
        assert settled.returncode == 0 and "cleared" in settled.stderr, settled.stdout + settled.stderr
        _, result = up(ws, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "pending operations" not in result.stdout + result.stderr
        M["converge_after_killed_up_seconds"] = round(time.monotonic() - t0, 1)
    assert not load.failed, load.summary()
    assert load.versions[-1] == "2.0.0", load.summary()
    assert not ws.export()["deployment"].get("pending_operations")


def test_6b_swap_with_the_old_release_scaled_to_zero_loses_no_request(
        real: Cluster, ws: Workspace, tmp_path: pathlib.Path) -> None:
    """The default retention: the old release stops right after the Service moves (no provider
    settle sleep in between: the Service skips its await). Its pods drain (the test app answers
    2 s after SIGTERM) while kube-proxy follows the new endpoints: no request fails."""
    topology = ws.dir / "stacks" / "topology.py"
    topology.write_text(topology.read_text().replace('"keep_mode": "warm"', '"keep_mode": "scaled-to-zero"', 1))
    serving = outputs(ws)["web_release"]
    with traffic(real, "web", "swap_scaled_to_zero", tmp_path) as load:
        set_web(ws, [*releases_of(ws), real.testapp_ref("2.1.0")])
        seconds, _ = up(ws)
    assert not load.failed, load.summary()
    assert load.versions[0] == "2.0.0" and load.versions[-1] == "2.1.0", load.summary()
    assert outputs(ws)["web_kept_releases"][0] == serving
    assert real.get("deployment", f"web-{serving}", "-n", NS)["spec"]["replicas"] == 0
    M["swap_scaled_to_zero_up_seconds"] = round(seconds, 1)


# --- 7. exec lock against the real kubelet -------------------------------------------------------

def test_7_exec_lock_holds_on_a_real_kubelet_and_break_glass_gets_a_shell(
        real: Cluster, ws: Workspace, tmp_path: pathlib.Path) -> None:
    pods = real.get("pods", "-n", NS, "-l", "app.kubernetes.io/name=api")["items"]
    name = pods[0]["metadata"]["name"]
    debug_image = f"{real.images()['address']}/debug@{real.images()['images']['debug:busybox']['digest']}"
    attempts = {
        "exec": ["exec", name, "-n", NS, "-c", "api", "--", "/bin/testapp", "ready"],
        "attach": ["attach", name, "-n", NS, "-c", "api"],
        "cp": ["cp", f"{NS}/{name}:/bin/testapp", str(tmp_path / "x"), "-c", "api"],
        "port-forward": ["port-forward", "-n", NS, f"pod/{name}", "18080:8080"],
        "debug": ["debug", name, "-n", NS, f"--image={debug_image}", "--profile=restricted", "--attach=false",
                  "--", "sleep", "600"],
    }
    for verb, args in attempts.items():
        proc = real.kubectl(*args, check=False, timeout=30)
        assert proc.returncode != 0, f"kubectl {verb} was allowed:\n{proc.stdout}"
        assert LOCK_PREFIX in proc.stderr, f"kubectl {verb}: {proc.stderr}"
    glass = ["--kubeconfig", str(real.kubeconfig_for("break-glass-operator", BREAK_GLASS_GROUPS))]
    # Past the lock, a real kubelet really runs the command in the container.
    proc = real.kubectl(*glass, *attempts["exec"], check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    proc = real.kubectl(*glass, "debug", name, "-n", NS, f"--image={debug_image}", "--profile=restricted",
                        "--attach=false", "--container=debugger", "--", "sleep", "600", check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 90
    while True:
        pod = real.get("pod", name, "-n", NS)
        states = {s["name"]: s.get("state", {}) for s in pod["status"].get("ephemeralContainerStatuses", [])}
        if "running" in states.get("debugger", {}):
            break
        assert time.monotonic() < deadline, pod["status"].get("ephemeralContainerStatuses")
        time.sleep(0.5)
    proc = real.kubectl(*glass, "exec", name, "-n", NS, "-c", "debugger", "--", "sh", "-c", "echo shell-$((6*7))",
                        check=False, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "shell-42", proc.stderr
    # kubectl logs is not locked: request log lines carry their release.
    logs = real.kubectl("logs", "-n", NS, name, "-c", "api", timeout=60).stdout
    assert '"msg":"testapp started"' in logs


# --- 8. logs and metrics per release -------------------------------------------------------------

def test_8_logs_and_metrics_are_attributable_to_a_release(real: Cluster, ws: Workspace) -> None:
    version_of = _version_of(real)
    pods = real.get("pods", "-n", NS, "-l", "app.kubernetes.io/name=web")["items"]
    assert pods
    for pod in pods:
        release = pod["metadata"]["labels"]["immutable.dev/release"]
        version = version_of[pod["spec"]["containers"][0]["image"]]
        # Logs by release label: every request line names the version of that release's image.
        logs = real.kubectl("logs", "-n", NS, "-l", f"immutable.dev/release={release}", "--tail=-1",
                            "--prefix", timeout=60).stdout
        lines = [json.loads(line.split(" ", 1)[1]) for line in logs.splitlines() if '"path"' in line]
        assert lines and {entry["version"] for entry in lines} == {version}, (release, logs[:500])
        # A scrape of the pod's metrics port (pod IP on the project's bridge): series labelled with
        # the version, and the pod, whose release label says which release it is.
        ip = pod["status"]["podIP"]
        with urllib.request.urlopen(f"http://{ip}:8080/metrics", timeout=5) as resp:
            text = resp.read().decode()
        served = [line for line in text.splitlines() if line.startswith("testapp_requests_total{") and 'path="/"' in line]
        assert served and all(f'version="{version}"' in line and f'pod="{pod["metadata"]["name"]}"' in line
                              for line in served), text
        M.setdefault("requests_by_release", {})[release] = sum(int(line.rsplit(" ", 1)[1]) for line in served)
