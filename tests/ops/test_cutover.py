"""Traffic first (components/ops/cutover.py): which rollbacks move the Service before the update,
what is checked in the cluster first, and the exact patch sent.

The cluster here is a stand-in ``kubectl`` (a script answering from a JSON file and logging its
arguments); the real thing runs on a real node in tests/cluster/test_real_node.py (test_3, with
traffic, and the failed rollback that moves the traffic back)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from immutable_infra.ops import cutover
from immutable_infra.ops.errors import OpsError

REL = "immutable.dev/release"
PROVIDER_URN = "urn:pulumi:dev::p::pulumi:providers:kubernetes::cluster"
COMPONENT_URN = "urn:pulumi:dev::p::immutable:kubernetes:ContainerService::web"


def state(*, selector: dict[str, str] | None = None, provider_inputs: dict[str, Any] | None = None,
          kept: str = "aaaa1111") -> dict[str, Any]:
    """A stack export with one blue-green service: active bbbb2222, kept ``kept``."""
    def child(kind: str, name: str, outputs: dict[str, Any]) -> dict[str, Any]:
        return {"type": f"kubernetes:{kind}", "urn": f"{COMPONENT_URN}${kind}::{name}", "parent": COMPONENT_URN,
                "provider": f"{PROVIDER_URN}::1234-id", "outputs": outputs}
    return {"resources": [
        {"type": "pulumi:providers:kubernetes", "urn": PROVIDER_URN,
         "inputs": {"kubeconfig": "/state/kubeconfig"} if provider_inputs is None else provider_inputs},
        {"type": "immutable:kubernetes:ContainerService", "urn": COMPONENT_URN},
        child("core/v1:Service", "web-svc", {"metadata": {"name": "web", "namespace": "apps"},
                                             "spec": {"selector": selector or {"app": "web", REL: "bbbb2222"}}}),
        child("apps/v1:Deployment", "web-bbbb2222", {"metadata": {"name": "web-bbbb2222", "labels": {REL: "bbbb2222"}}}),
        child("apps/v1:Deployment", f"web-{kept}", {"metadata": {"name": f"web-{kept}", "labels": {REL: kept}}}),
    ]}


def deployment(release: str = "aaaa1111", *, replicas: int = 2, ready: int = 2, generation: int = 3,
               observed: int = 3, pods_of: str | None = None) -> dict[str, Any]:
    return {"metadata": {"name": f"web-{release}", "generation": generation},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {REL: pods_of or release}}}},
            "status": {"observedGeneration": observed, "replicas": replicas, "readyReplicas": ready,
                       "updatedReplicas": replicas, "availableReplicas": ready}}


def plan_of(export: dict[str, Any], tmp_path: Path, **env: str) -> cutover.CutoverPlan | str:
    return cutover.plan(export, "web", "bbbb2222", "aaaa1111", project_dir=tmp_path,
                        env={"PATH": "", "IMMUTABLE_KUBECTL": "/bin/kubectl", **env})


# --- which rollbacks move the traffic first ------------------------------------------------------

def test_a_warm_blue_green_release_gets_a_plan_from_state(tmp_path: Path) -> None:
    plan = plan_of(state(), tmp_path)
    assert isinstance(plan, cutover.CutoverPlan)
    assert (plan.namespace, plan.service, plan.deployment) == ("apps", "web", "web-aaaa1111")
    assert plan.connection == cutover.Connection("/bin/kubectl", "/state/kubeconfig", None)


@pytest.mark.parametrize(("export", "reason"), [
    (state(selector={"app": "web"}), "not blue-green"),
    (state(kept="cccc3333"), "release aaaa1111 of web has no Deployment in state"),
    (state(provider_inputs={"renderYamlToDirectory": "out"}), "renders manifests"),
    (state(provider_inputs={"kubeconfig": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                                           "ciphertext": "x"}}), "secret in state"),
    ({"resources": []}, "not a Kubernetes ContainerService"),
])
def test_what_the_update_alone_moves_and_why(export: dict[str, Any], reason: str, tmp_path: Path) -> None:
    plan = plan_of(export, tmp_path)
    assert isinstance(plan, str) and reason in plan


def test_no_kubectl_means_the_update_moves_the_traffic(tmp_path: Path) -> None:
    plan = cutover.plan(state(), "web", "bbbb2222", "aaaa1111", project_dir=tmp_path, env={"PATH": str(tmp_path)})
    assert plan == "kubectl is not on PATH (or IMMUTABLE_KUBECTL)"


def test_a_relative_kubeconfig_is_the_projects(tmp_path: Path) -> None:
    plan = plan_of(state(provider_inputs={"kubeconfig": ".state/cluster/kubeconfig"}), tmp_path)
    assert isinstance(plan, cutover.CutoverPlan)
    assert plan.connection.kubeconfig == str(tmp_path / ".state/cluster/kubeconfig")


def test_the_default_kubeconfig_and_context_follow_the_provider(tmp_path: Path) -> None:
    plan = plan_of(state(provider_inputs={"context": "kind-dev"}), tmp_path, KUBECONFIG="/home/me/.kube/config")
    assert isinstance(plan, cutover.CutoverPlan)
    assert plan.connection == cutover.Connection("/bin/kubectl", "/home/me/.kube/config", "kind-dev")


# --- readiness of the kept release ---------------------------------------------------------------

@pytest.mark.parametrize(("live", "reason"), [
    (deployment(replicas=0, ready=0), "kept scaled to zero"),
    (deployment(ready=1), "not fully ready"),
    (deployment(observed=2), "not seen yet"),
    (deployment(pods_of="cccc3333"), "runs pods of 'cccc3333'"),
])
def test_only_a_fully_ready_warm_release_takes_the_traffic_first(live: dict[str, Any], reason: str) -> None:
    assert reason in (cutover.deployment_not_ready(live, "aaaa1111") or "")


def test_a_ready_warm_release_is_ready() -> None:
    assert cutover.deployment_not_ready(deployment(), "aaaa1111") is None


# --- against a stand-in kubectl ------------------------------------------------------------------

FAKE = """#!{python}
import json, sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps(args) + "\\n")
objects = json.load(open({objects!r}))
if "get" in args:
    kind, name = args[args.index("get") + 1], args[args.index("get") + 2]
    if name not in objects.get(kind, {{}}):
        sys.exit(1)
    print(json.dumps(objects[kind][name]))
elif "patch" in args:
    sys.exit(objects.get("patch_exit", 0))
"""


def fake_kubectl(tmp_path: Path, objects: dict[str, Any]) -> tuple[Path, Path]:
    log, data = tmp_path / "calls.jsonl", tmp_path / "objects.json"
    data.write_text(json.dumps(objects))
    script = tmp_path / "kubectl"
    script.write_text(FAKE.format(python=sys.executable, log=str(log), objects=str(data)))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, log


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def live_service(release: str) -> dict[str, Any]:
    return {"spec": {"selector": {"app": "web", REL: release}}}


def test_check_then_move_then_undo_patch_only_the_release_label(tmp_path: Path) -> None:
    kubectl, log = fake_kubectl(tmp_path, {"service": {"web": live_service("bbbb2222")},
                                           "deployment": {"web-aaaa1111": deployment()}})
    plan = plan_of(state(), tmp_path, IMMUTABLE_KUBECTL=str(kubectl))
    assert isinstance(plan, cutover.CutoverPlan)
    assert plan.check() is None
    plan.move()
    plan.undo()
    made = calls(log)
    assert made[0][-6:] == ["get", "service", "web", "-n", "apps", "-o", "json"][-6:]
    patches = [c for c in made if "patch" in c]
    assert len(patches) == 2
    for call, release in zip(patches, ("aaaa1111", "bbbb2222"), strict=True):
        assert "--kubeconfig=/state/kubeconfig" in call and "--field-manager=pulumi-kubernetes" in call
        assert call[call.index("patch"):call.index("patch") + 7] == ["patch", "service", "web", "-n", "apps",
                                                                    "--type", "merge"]
        assert json.loads(call[-1]) == {"spec": {"selector": {REL: release}}}


def test_a_service_moved_outside_pulumi_is_left_alone(tmp_path: Path) -> None:
    kubectl, _ = fake_kubectl(tmp_path, {"service": {"web": live_service("dddd4444")},
                                           "deployment": {"web-aaaa1111": deployment()}})
    plan = plan_of(state(), tmp_path, IMMUTABLE_KUBECTL=str(kubectl))
    assert isinstance(plan, cutover.CutoverPlan)
    assert "selects 'dddd4444', not 'bbbb2222'" in (plan.check() or "")


def test_a_cold_kept_release_is_left_to_the_update(tmp_path: Path) -> None:
    kubectl, _ = fake_kubectl(tmp_path, {"service": {"web": live_service("bbbb2222")},
                                         "deployment": {"web-aaaa1111": deployment(replicas=0, ready=0)}})
    plan = plan_of(state(), tmp_path, IMMUTABLE_KUBECTL=str(kubectl))
    assert isinstance(plan, cutover.CutoverPlan)
    assert "scaled to zero" in (plan.check() or "")


def test_a_refused_patch_is_an_error_naming_the_service(tmp_path: Path) -> None:
    kubectl, _ = fake_kubectl(tmp_path, {"patch_exit": 1})
    plan = plan_of(state(), tmp_path, IMMUTABLE_KUBECTL=str(kubectl))
    assert isinstance(plan, cutover.CutoverPlan)
    with pytest.raises(OpsError, match="could not move Service apps/web to release aaaa1111"):
        plan.move()


def test_state_release_is_what_the_engine_last_did() -> None:
    assert cutover.state_release(state(), "web") == "bbbb2222"
    assert cutover.state_release(state(selector={"app": "web"}), "web") is None
    assert cutover.state_release(state(), "api") is None


def test_kubeconfig_content_goes_through_a_private_file_that_is_removed(tmp_path: Path) -> None:
    content = "apiVersion: v1\nkind: Config\n"
    with cutover.Connection("/bin/kubectl", content, "ctx").args() as args:
        path = Path(next(a for a in args if a.startswith("--kubeconfig=")).split("=", 1)[1])
        assert path.read_text() == content and stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert "--context=ctx" in args
    assert not path.exists()
