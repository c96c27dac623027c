"""The dev stack on a real local control plane (issue #8): kube-apiserver, controller manager,
scheduler and etcd built from source, kwok playing the kubelets (cluster/local.py).

One workspace (a copy of the example project with ``target: local-cluster``) is deployed
once; the tests run in file order against it, each on the state the previous left, and the
stack is destroyed at the end. Measurements are written to <tmp>/cluster-measurements.json
and printed (run with -s to see them).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pathlib
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.kube import Cluster, Event, kill_plugins_left_in, ready_endpoint_timeline
from tests.engine.harness import PULUMI, Workspace, changed, resource_type, toolchain_missing

pytestmark = [pytest.mark.engine, pytest.mark.cluster, pytest.mark.slow,
              pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]

NS = "apps"
LOCK_PREFIX = "immutable-infra exec lock:"
BREAK_GLASS_GROUPS = ["system:masters", "immutable:break-glass"]
MEASUREMENTS: dict[str, Any] = {}
SWAPS: dict[str, tuple[list[Event], list[Event], list[Event], str]] = {}
"""Events recorded by test 3 for each swap: endpoint slices, deployments, selector moves, the release left."""


def digest(tag: str) -> str:
    return "sha256:" + hashlib.sha256(tag.encode()).hexdigest()


@pytest.fixture(scope="module")
def ws(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    MEASUREMENTS["cluster_start_seconds"] = round(cluster.start_seconds, 1)
    w = Workspace.create(tmp_path_factory.mktemp("local-cluster"), target="local-cluster")
    data = w.config()
    env = data["config"]["immutable:environment"]
    env["kubeconfig"] = str(cluster.kubeconfig)
    # A never-ready release (test 6a) fails the update after this long instead of 10 minutes.
    env["services"]["web"]["rollout_timeout_seconds"] = 40
    w.write_config(data)
    w.init_stack("dev")
    try:
        yield w
    finally:
        w.pulumi("destroy", "--yes", "-s", "dev", check=False, timeout=360)
        out = tmp_path_factory.getbasetemp() / "cluster-measurements.json"
        out.write_text(json.dumps(MEASUREMENTS, indent=2) + "\n")
        print(f"\ncluster measurements ({out}):\n{json.dumps(MEASUREMENTS, indent=2)}")


def up(ws: Workspace, *args: str, check: bool = True,
       timeout: int = 360) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.monotonic()
    proc = ws.pulumi("up", "--yes", "--skip-preview", "-s", "dev", *args, check=check, timeout=timeout)
    return time.monotonic() - start, proc


def outputs(ws: Workspace) -> dict[str, Any]:
    return json.loads(ws.pulumi("stack", "output", "--json", "-s", "dev").stdout)  # type: ignore[no-any-return]


def ledger(ws: Workspace, service: str) -> dict[str, Any]:
    return ws.config()["config"]["immutable:ledger"][service]  # type: ignore[no-any-return]


def set_ledger(ws: Workspace, service: str, releases: list[dict[str, Any]], active: str | None = None) -> None:
    data = ws.config()
    entry: dict[str, Any] = {"releases": releases}
    if active:
        entry["active"] = active
    data["config"]["immutable:ledger"][service] = entry
    ws.write_config(data)


def add_release(ws: Workspace, service: str, artifact: str) -> None:
    set_ledger(ws, service, [*ledger(ws, service)["releases"], {"artifact": artifact}])


def deployments(cluster: Cluster) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in cluster.get("deployments", "-n", NS)["items"]}


def pods(cluster: Cluster, service: str) -> dict[str, dict[str, Any]]:
    items = cluster.get("pods", "-n", NS, "-l", f"app.kubernetes.io/name={service}")["items"]
    return {p["metadata"]["uid"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


def all_ready(cluster: Cluster) -> list[str]:
    """Names of Deployments whose ready replicas differ from the wanted ones (empty: all ready)."""
    return [f"{name}: {d['status'].get('readyReplicas', 0)}/{d['spec']['replicas']}"
            for name, d in deployments(cluster).items()
            if d["status"].get("readyReplicas", 0) != d["spec"]["replicas"]
            or d["status"].get("updatedReplicas", 0) != d["spec"]["replicas"]]


def wait_until(check, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def spec_without_binding(pod: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(pod["spec"])
    spec.pop("nodeName", None)  # set once by the scheduler's binding, not a patch of the pod
    return spec


# --- 1. deploy ------------------------------------------------------------------------------

def test_1_dev_stack_deploys_ready_and_second_up_changes_nothing(ws: Workspace, cluster: Cluster) -> None:
    seconds, _ = up(ws)
    MEASUREMENTS["first_up_seconds"] = round(seconds, 1)
    out = outputs(ws)
    assert out["target"] == "local-cluster"
    deps = deployments(cluster)
    assert {"api", "worker", f"web-{out['web_release']}"} <= set(deps), sorted(deps)
    assert all_ready(cluster) == []
    assert all(d["spec"]["replicas"] >= 1 for n, d in deps.items() if not n.startswith("web-")
               or n == f"web-{out['web_release']}")
    running = [p for s in ("web", "api", "worker") for p in pods(cluster, s).values()]
    assert running and all(p["status"]["phase"] == "Running" for p in running)
    before = {n: (d["metadata"]["generation"], d["metadata"]["resourceVersion"]) for n, d in deps.items()}
    uids = {u for s in ("web", "api", "worker") for u in pods(cluster, s)}

    seconds, _ = up(ws, "--expect-no-changes")
    MEASUREMENTS["noop_up_seconds"] = round(seconds, 1)
    assert changed(ws.preview_steps()) == []
    after = {n: (d["metadata"]["generation"], d["metadata"]["resourceVersion"])
             for n, d in deployments(cluster).items()}
    assert after == before
    assert {u for s in ("web", "api", "worker") for u in pods(cluster, s)} == uids


# --- 4. immutable config ---------------------------------------------------------------------

def test_4_api_server_refuses_edits_to_release_config(cluster: Cluster, ws: Workspace) -> None:
    cms = [c for c in cluster.get("configmaps", "-n", NS, "-l", "app.kubernetes.io/name=api")["items"]]
    secrets = [s for s in cluster.get("secrets", "-n", NS, "-l", "app.kubernetes.io/name=api")["items"]]
    assert cms and secrets and all(o.get("immutable") for o in cms + secrets)
    cm = cms[0]["metadata"]["name"]
    proc = cluster.kubectl("patch", "configmap", cm, "-n", NS, "--type=merge",
                           "-p", '{"data":{"api.toml":"[server]\\nport = 1\\n"}}', check=False)
    assert proc.returncode != 0
    assert "field is immutable when `immutable` is set" in proc.stderr, proc.stderr
    proc = cluster.kubectl("patch", "configmap", cm, "-n", NS, "--type=merge", "-p", '{"immutable":false}',
                           check=False)
    assert proc.returncode != 0 and "immutable" in proc.stderr, proc.stderr
    secret = secrets[0]["metadata"]["name"]
    proc = cluster.kubectl("patch", "secret", secret, "-n", NS, "--type=merge",
                           "-p", '{"stringData":{"db-password":"changed"}}', check=False)
    assert proc.returncode != 0 and "field is immutable when `immutable` is set" in proc.stderr, proc.stderr
    assert cluster.get("configmap", cm, "-n", NS)["data"] == cms[0]["data"]


# --- 5. exec lock ----------------------------------------------------------------------------

def test_5_exec_cp_and_debug_are_refused_by_our_policy(cluster: Cluster, ws: Workspace, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pod = next(iter(pods(cluster, "api").values()))
    name = pod["metadata"]["name"]
    container = pod["spec"]["containers"][0]["name"]
    attempts = {
        "exec": ["exec", name, "-n", NS, "-c", container, "--", "cat", "/etc/hostname"],
        "cp": ["cp", f"{NS}/{name}:/etc/hostname", str(tmp_path / "hostname"), "-c", container],
        "debug": ["debug", name, "-n", NS, "--image=registry.example.com/acme/debug@" + digest("debug"),
                  "--profile=restricted", "--attach=false", "--", "true"],
    }
    for verb, args in attempts.items():
        proc = cluster.kubectl(*args, check=False, timeout=60)
        assert proc.returncode != 0, f"kubectl {verb} was allowed:\n{proc.stdout}"
        assert LOCK_PREFIX in proc.stderr, f"kubectl {verb}: {proc.stderr}"
        assert "ValidatingAdmissionPolicy 'apps.exec-lock'" in proc.stderr, proc.stderr
    assert not cluster.get("pod", name, "-n", NS)["spec"].get("ephemeralContainers")

    # The refusal is the policy's, not kwok's: with the break-glass group the same exec gets past
    # admission and only then fails (there is no container to exec into), and debug succeeds.
    glass = ["--kubeconfig", str(cluster.kubeconfig_for("break-glass-operator", BREAK_GLASS_GROUPS))]
    proc = cluster.kubectl(*glass, *attempts["exec"], check=False, timeout=60)
    assert proc.returncode != 0 and LOCK_PREFIX not in proc.stderr, proc.stderr
    MEASUREMENTS["exec_past_the_lock_error"] = proc.stderr.strip().splitlines()[-1][:200]
    worker = next(iter(pods(cluster, "worker").values()))["metadata"]["name"]
    proc = cluster.kubectl(*glass, "debug", worker, "-n", NS, "--image=registry.example.com/acme/debug@" + digest("debug"),
                           "--profile=restricted", "--attach=false", "--", "true", check=False)
    assert proc.returncode == 0, proc.stderr
    assert cluster.get("pod", worker, "-n", NS)["spec"].get("ephemeralContainers")
    proc = cluster.kubectl("debug", worker, "-n", NS, "--image=registry.example.com/acme/debug@" + digest("debug"),
                           "--profile=restricted", "--attach=false", "--", "true", check=False)
    assert proc.returncode != 0 and LOCK_PREFIX in proc.stderr, proc.stderr


# --- 2. rolling ------------------------------------------------------------------------------

def test_2_rolling_new_digest_replaces_pods_and_patches_none(cluster: Cluster, ws: Workspace) -> None:
    before = pods(cluster, "api")
    assert before
    watch = cluster.watch(f"/api/v1/namespaces/{NS}/pods?labelSelector=app.kubernetes.io%2Fname%3Dapi")
    new_image = "registry.example.com/acme/api@" + digest("api-2.2.0")
    add_release(ws, "api", new_image)
    seconds, _ = up(ws)
    MEASUREMENTS["rolling_up_seconds"] = round(seconds, 1)
    events = watch.stop()
    after = pods(cluster, "api")
    assert set(after).isdisjoint(before), "an old api pod survived the rollout"
    assert len(after) == len(before)
    assert all(p["spec"]["containers"][0]["image"] == new_image for p in after.values())
    assert all(p["status"]["phase"] == "Running" for p in after.values())
    assert all(p["spec"]["containers"][0]["image"] != new_image for p in before.values())
    # No pod is ever patched: every event of a pod carries the spec it was created with.
    first: dict[str, dict[str, Any]] = {}
    for ev in events:
        uid = ev.obj["metadata"]["uid"]
        spec = spec_without_binding(ev.obj)
        if uid not in first:
            first[uid] = spec
        assert spec == first[uid], f"pod {ev.name} was patched: {ev.type}"
    assert set(before) | set(after) <= set(first)
    assert "api" in deployments(cluster) and all_ready(cluster) == []


# --- 3. blue/green ---------------------------------------------------------------------------

def _swap_watches(cluster: Cluster) -> tuple[Any, Any, Any]:
    slices = cluster.watch(f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"
                           "?labelSelector=kubernetes.io%2Fservice-name%3Dweb")
    svc = cluster.watch(f"/api/v1/namespaces/{NS}/services?fieldSelector=metadata.name%3Dweb")
    deps = cluster.watch(f"/apis/apps/v1/namespaces/{NS}/deployments")
    return slices, svc, deps


def _selector_moves(events: list[Event]) -> list[Event]:
    out, last = [], None
    for ev in events:
        sel = ev.obj["spec"].get("selector", {}).get("immutable.dev/release")
        if sel != last:
            out.append(ev)
            last = sel
    return out


def _first_ready(events: list[Event], name: str) -> Event:
    for ev in events:
        st, sp = ev.obj.get("status", {}), ev.obj["spec"]
        if ev.name == name and sp.get("replicas", 0) > 0 and st.get("readyReplicas", 0) >= sp["replicas"] \
                and st.get("updatedReplicas", 0) >= sp["replicas"]:
            return ev
    raise AssertionError(f"Deployment {name} never became ready in the watch")


def _assert_never_zero(timeline: list[tuple[float, int, int]]) -> None:
    assert timeline and timeline[0][2] > 0, f"no ready endpoint before the swap: {timeline[:3]}"
    zero = [(rv, n) for _, rv, n in timeline if n == 0]
    assert not zero, f"a moment with zero ready endpoints (resourceVersion, ready): {zero}"


def _raw_rolling_update_seconds(cluster: Cluster, replicas: int, template: dict[str, Any]) -> float:
    """A plain Deployment of the same size and pod spec, image changed, `kubectl rollout status`."""
    cluster.kubectl("create", "namespace", "bench", check=False)
    wait_until(lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", "bench", check=False).returncode == 0,
               "the default ServiceAccount of namespace bench")
    tpl = copy.deepcopy(template)
    tpl["metadata"] = {"labels": {"app": "raw"}}
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "raw", "namespace": "bench"},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "raw"}}, "template": tpl,
                         "strategy": {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}}}
    tpl["spec"].pop("serviceAccountName", None)
    tpl["spec"].pop("serviceAccount", None)  # the deprecated alias the API server fills in
    tpl["spec"].pop("volumes", None)
    for c in tpl["spec"]["containers"]:
        c.pop("volumeMounts", None)
        c.pop("envFrom", None)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    cluster.kubectl("rollout", "status", "deployment/raw", "-n", "bench", "--timeout=120s")
    start = time.monotonic()
    cluster.kubectl("set", "image", "deployment/raw", "-n", "bench",
                    f"{tpl['spec']['containers'][0]['name']}=registry.example.com/acme/raw@{digest('raw-2')}")
    cluster.kubectl("rollout", "status", "deployment/raw", "-n", "bench", "--timeout=120s")
    seconds = time.monotonic() - start
    cluster.kubectl("delete", "namespace", "bench", "--wait=false")
    return seconds


def test_3_blue_green_swap_is_gated_on_readiness_and_rollback_reuses_the_kept_release(
        cluster: Cluster, ws: Workspace) -> None:
    old = outputs(ws)["web_release"]
    old_artifact = ledger(ws, "web")["releases"][-1]["artifact"]
    slices, svc, deps = _swap_watches(cluster)
    add_release(ws, "web", "registry.example.com/acme/web@" + digest("web-1.6.0"))
    swap_seconds, _ = up(ws)
    s_events, v_events, d_events = slices.stop(), svc.stop(), deps.stop()
    new = outputs(ws)["web_release"]
    assert new != old
    moves = _selector_moves(v_events)
    assert [m.obj["spec"]["selector"]["immutable.dev/release"] for m in moves] == [old, new], moves
    ready = _first_ready(d_events, f"web-{new}")
    # Same etcd, so resourceVersions order the two watches: ready first, then the selector moves.
    assert ready.rv < moves[1].rv, (ready.rv, moves[1].rv)
    SWAPS["fresh"] = (s_events, d_events, moves, f"web-{old}")
    kept = deployments(cluster)[f"web-{old}"]
    assert kept["spec"]["replicas"] == 0  # kept scaled to zero (keep_mode), not deleted
    assert outputs(ws)["web_kept_releases"] == [old]
    # In-cluster swap window: new Deployment first seen -> Service selector moved.
    created = next(ev for ev in d_events if ev.name == f"web-{new}")
    MEASUREMENTS["blue_green_swap_up_seconds"] = round(swap_seconds, 2)
    MEASUREMENTS["blue_green_swap_in_cluster_seconds"] = round(moves[1].t - created.t, 2)

    # Raw Deployment rolling update of the same size (replicas, pod spec) for comparison.
    active = deployments(cluster)[f"web-{new}"]
    raw = _raw_rolling_update_seconds(cluster, active["spec"]["replicas"], active["spec"]["template"])
    MEASUREMENTS["raw_rolling_update_seconds"] = round(raw, 2)
    MEASUREMENTS["swap_vs_raw_rolling_ratio_up"] = round(swap_seconds / raw, 2)
    MEASUREMENTS["swap_vs_raw_rolling_ratio_in_cluster"] = round((moves[1].t - created.t) / raw, 2)

    # Rollback: point the ledger back at the kept release; no Deployment is created.
    releases = ledger(ws, "web")["releases"]
    set_ledger(ws, "web", releases, active=old_artifact)
    steps = changed(ws.preview_steps())
    creates = [s for s in steps if s["op"] in ("create", "replace", "create-replacement")
               and resource_type(s["urn"]) == "kubernetes:apps/v1:Deployment"]
    assert creates == [], creates
    slices, svc, deps = _swap_watches(cluster)
    names_before = set(deployments(cluster))
    rollback_seconds, _ = up(ws)
    s_events, v_events, d_events = slices.stop(), svc.stop(), deps.stop()
    assert outputs(ws)["web_release"] == old
    assert set(deployments(cluster)) <= names_before  # nothing created
    assert not [ev for ev in d_events if ev.type == "ADDED" and ev.t > d_events[0].t + 0.5]
    moves = _selector_moves(v_events)
    assert [m.obj["spec"]["selector"]["immutable.dev/release"] for m in moves] == [new, old], moves
    assert _first_ready(d_events, f"web-{old}").rv < moves[1].rv
    SWAPS["rollback"] = (s_events, d_events, moves, f"web-{new}")
    assert all_ready(cluster) == []
    scaled_up = next(ev for ev in d_events if ev.name == f"web-{old}" and ev.obj["spec"].get("replicas", 0) > 0)
    MEASUREMENTS["rollback_in_cluster_seconds"] = round(moves[1].t - scaled_up.t, 2)
    MEASUREMENTS["rollback_vs_fresh_deploy_ratio_in_cluster"] = round(
        (moves[1].t - scaled_up.t) / MEASUREMENTS["blue_green_swap_in_cluster_seconds"], 2)
    MEASUREMENTS["rollback_up_seconds"] = round(rollback_seconds, 2)
    MEASUREMENTS["rollback_vs_fresh_deploy_ratio_up"] = round(rollback_seconds / swap_seconds, 2)


def _scaled_to_zero(events: list[Event], name: str) -> Event | None:
    return next((ev for ev in events if ev.name == name and ev.obj["spec"].get("replicas") == 0
                 and ev.type == "MODIFIED"), None)


@pytest.mark.parametrize("swap", ["fresh", "rollback"])
def test_3b_no_moment_without_a_ready_endpoint_during_a_swap(swap: str) -> None:
    if swap not in SWAPS:
        pytest.skip("test 3 did not record this swap")
    s_events, d_events, moves, left = SWAPS[swap]
    timeline = ready_endpoint_timeline(s_events)
    zero = [(rv, n) for _, rv, n in timeline if n == 0]
    down = _scaled_to_zero(d_events, left)
    assert not zero, (
        f"{swap} swap: moments with zero ready endpoints (resourceVersion, ready) {zero}; the release left "
        f"({left}) was scaled to 0 at resourceVersion {down.rv if down else '?'}, the Service selector moved "
        f"at {moves[-1].rv}: the scale-down must wait for the selector move")


# --- 6. faults -------------------------------------------------------------------------------

def test_6a_never_ready_release_fails_the_update_and_old_keeps_serving(cluster: Cluster, ws: Workspace) -> None:
    serving = outputs(ws)["web_release"]
    slices = cluster.watch(f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"
                           "?labelSelector=kubernetes.io%2Fservice-name%3Dweb")
    original = ledger(ws, "web")
    add_release(ws, "web", "registry.example.com/acme/web-never-ready@" + digest("web-never-ready"))
    seconds, proc = up(ws, check=False, timeout=1200)
    MEASUREMENTS["never_ready_up_seconds"] = round(seconds, 1)
    events = slices.stop()
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "web-" in out and ("not ready" in out.lower() or "timed out" in out.lower() or "ready" in out), out
    svc = cluster.get("service", "web", "-n", NS)
    assert svc["spec"]["selector"]["immutable.dev/release"] == serving
    _assert_never_zero(ready_endpoint_timeline(events))
    set_ledger(ws, "web", original["releases"], active=original.get("active"))
    up(ws)
    assert outputs(ws)["web_release"] == serving and all_ready(cluster) == []


def _release_deployments(cluster: Cluster) -> set[str]:
    return {n for n in deployments(cluster) if n.startswith("web-")}


def test_6b_killed_up_converges_on_the_next_run(cluster: Cluster, ws: Workspace) -> None:
    add_release(ws, "web", "registry.example.com/acme/web@" + digest("web-1.7.0"))
    before = _release_deployments(cluster)
    ws.record()  # what `up` through the harness does first
    proc = subprocess.Popen([str(PULUMI), "up", "--yes", "--skip-preview", "-s", "dev", "--non-interactive"],
                            cwd=ws.dir, env=ws.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        wait_until(lambda: len(_release_deployments(cluster) - before) > 0 or proc.poll() is not None,
                   "the new release's Deployment", timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its plugins: our own process group
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, "".join(output)
    kill_plugins_left_in(ws.dir)
    # The next run converges. A killed CLI leaves its lock file in the file backend; the lock names
    # the pid that took it, and a lock whose process is gone is stale: cancel it (what
    # scripts/deploy.sh should do before `up`), then up.
    start = time.monotonic()
    _, result = up(ws, check=False)
    text = result.stdout + result.stderr
    if result.returncode != 0 and "currently locked" in text:
        match = re.search(r"created by \S+ \(pid (\d+)\)", text)
        assert match, text
        cmdline = pathlib.Path(f"/proc/{match.group(1)}/cmdline")
        assert not (cmdline.exists() and b"pulumi" in cmdline.read_bytes()), "the lock's process still runs"
        MEASUREMENTS["killed_up_left_stale_lock"] = True
        ws.pulumi("cancel", "--yes", "-s", "dev")
        _, result = up(ws, check=False)
        text = result.stdout + result.stderr
    seconds = time.monotonic() - start
    assert result.returncode == 0, text
    MEASUREMENTS["converge_after_kill_up_seconds"] = round(seconds, 1)
    new = outputs(ws)["web_release"]
    kept = outputs(ws)["web_kept_releases"]
    assert _release_deployments(cluster) == {f"web-{r}" for r in [new, *kept]}
    assert all_ready(cluster) == []
    assert cluster.get("service", "web", "-n", NS)["spec"]["selector"]["immutable.dev/release"] == new
    proc2 = ws.pulumi("preview", "--expect-no-changes", "-s", "dev", check=False)
    assert proc2.returncode == 0, proc2.stdout + proc2.stderr


def test_7_the_controllers_and_the_scheduler_run_at_the_local_client_rate(cluster: Cluster) -> None:
    """cluster/local.py's CLIENT_RATE reaches the running processes: with the default 20 requests
    per second per controller, a first `up` of 300 services took 95.8 s instead of 55.7 s."""
    for name in ("kube-controller-manager", "kube-scheduler"):
        pid = json.loads((cluster.state / "pids" / f"{name}.json").read_text())["pid"]
        args = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert {"--kube-api-qps=200", "--kube-api-burst=400"} <= set(args), (name, args)
