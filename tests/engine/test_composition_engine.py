"""Composition on the real engine (CLI + language host + Kubernetes provider in render mode):

- the Kubernetes render example deploys;
- a consumer program outside the repository, with its own ``components`` package and the
  library pip-installed (not editable) in its own virtualenv, wires a ServiceNamespace output
  into three services, a ``require_secret`` value and one service's endpoint into another's
  env; no secret in clear in its config, state or history;
- upgrading the library from earlier revisions of this repository leaves a deployed stack
  with 0 replacements and 0 deletions.
"""

from __future__ import annotations

import base64
import io
import pathlib
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
from typing import Any

import pytest

from .harness import ROOT, resource_name, resource_type, toolchain_missing
from .projects import NOT_RUNNING_COMPUTE_SAFE, Project, example_files

pytestmark = [pytest.mark.engine, pytest.mark.skipif(toolchain_missing() is not None,
                                                       reason=toolchain_missing() or "")]

SECRET = "consumer-db-password-7f3a9c"


def _deployments(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Deployment"}


def _env(deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container.get("env") or []}


def _assert_no_secret_in_clear(project: Project, secret: str) -> None:
    encoded = base64.b64encode(secret.encode()).decode()
    for where, text in project.stored_text().items():
        assert secret not in text, f"the secret is in clear in {where}"
        assert encoded not in text, f"the secret is in base64 (clear) in {where}"


# --- the example ----------------------------------------------------------------------------------


def test_kubernetes_render_example_deploys(tmp_path: pathlib.Path) -> None:
    project = Project.create(tmp_path, example_files("kubernetes-render"), virtualenv=sys.prefix)
    project.init(secrets={"db-password": SECRET})
    project.pulumi("up", "--yes", "-s", "dev")

    deployments = _deployments(project.manifests())
    web = next(d for name, d in deployments.items() if name.startswith("web-"))
    assert web["metadata"]["namespace"] == "shop"
    assert _env(web)["API_URL"] == "http://api.shop.svc.cluster.local:80"
    _assert_no_secret_in_clear(project, SECRET)
    assert project.pulumi("preview", "--expect-no-changes", "-s", "dev", check=False).returncode == 0


# --- a consumer program outside the repository ------------------------------------------------------

CONSUMER_MAIN = textwrap.dedent('''
    """A team's program: its own `components` package, the library installed from a wheel."""
    import pulumi
    import pulumi_kubernetes as k8s
    from components.naming import team_prefix, team_labels   # the consumer's own package
    from immutable_infra.kubernetes import ContainerService, ServiceNamespace

    config = pulumi.Config()
    render = k8s.Provider("render", render_yaml_to_directory="build/manifests")
    opts = pulumi.ResourceOptions(providers=[render])
    DIGEST = "sha256:" + "c" * 64
    RESOURCES = {"cpu_request": "20m", "cpu_limit": "200m", "memory_request": "32Mi", "memory_limit": "64Mi"}
    PROBES = {"liveness": {"tcp_port": 8080}, "readiness": {"tcp_port": 8080}}

    def spec(name, **extra):
        return {"name": name, "image": f"registry.example.com/payments/{name}@{DIGEST}", "labels": team_labels(),
                "ports": [{"name": "http", "container_port": 8080, "service_port": 80}],
                "resources": RESOURCES, "probes": PROBES, **extra}

    ns = ServiceNamespace(team_prefix("ns"), {"spec": {"name": "payments"}}, opts=opts)
    db_password = config.require_secret("db-password")
    api = ContainerService(team_prefix("api"), {"namespace": ns.name, "spec": spec(
        "api", secrets=[{"name": "db-password", "value": db_password, "version": "1"}])}, opts=opts)
    worker = ContainerService(team_prefix("worker"), {"namespace": ns.name, "spec": spec(
        "worker", state={"endpoints": [{"name": "API_URL", "url": api.endpoint, "version": "api-v1"}]})}, opts=opts)
    web = ContainerService(team_prefix("web"), {"namespace": ns.name, "spec": spec(
        "web", strategy="blue-green",
        state={"endpoints": [{"name": "API_URL", "url": api.endpoint, "version": "api-v1"}]})}, opts=opts)

    pulumi.export("namespace", ns.name)
    pulumi.export("api_endpoint", api.endpoint)
    pulumi.export("web_service", web.service_name)
    pulumi.export("worker_selector", worker.selector_labels)
''')

CONSUMER_NAMING = textwrap.dedent('''
    def team_prefix(name):
        return "payments-" + name

    def team_labels():
        return {"team": "payments"}
''')


def _consumer_venv(tmp: pathlib.Path) -> pathlib.Path:
    """A virtualenv of its own with the library installed from a wheel (not editable); its
    dependencies (pulumi, pulumi-kubernetes, pydantic...) are this checkout's, by a .pth path
    entry (which adds the directory only: the editable install's finder there is not loaded)."""
    wheels = tmp / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(ROOT)], check=True, cwd=tmp, timeout=600)
    (wheel,) = wheels.glob("immutable_infra-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    site = pathlib.Path(subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, timeout=300)
    return venv


def test_consumer_program_composes_the_components_on_the_real_engine(tmp_path: pathlib.Path) -> None:
    venv = _consumer_venv(tmp_path)
    project = Project.create(tmp_path, {
        "Pulumi.yaml": "name: payments\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: x\n",
        "__main__.py": CONSUMER_MAIN,
        "components/__init__.py": "",
        "components/naming.py": CONSUMER_NAMING,
    }, virtualenv=str(venv))
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import immutable_infra; print(immutable_infra.__file__)"],
                           cwd=project.dir, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv)), where  # the installed wheel, not this checkout
    project.init(secrets={"db-password": SECRET})
    project.pulumi("up", "--yes", "-s", "dev")

    docs = project.manifests()
    deployments = _deployments(docs)
    assert {d["metadata"]["namespace"] for d in docs if d.get("kind") not in (
        "Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")} == {"payments"}
    web = next(d for name, d in deployments.items() if name.startswith("web-"))
    assert _env(web)["API_URL"] == _env(deployments["worker"])["API_URL"] == "http://api.payments.svc.cluster.local:80"
    assert web["spec"]["template"]["metadata"]["labels"]["team"] == "payments"
    (secret,) = [d for d in docs if d.get("kind") == "Secret"]
    assert secret["metadata"]["namespace"] == "payments"
    outputs = project.pulumi("stack", "output", "--json", "-s", "dev").stdout
    assert '"api_endpoint": "http://api.payments.svc.cluster.local:80"' in outputs
    assert '"web_service": "web"' in outputs
    _assert_no_secret_in_clear(project, SECRET)


# --- upgrading the library ----------------------------------------------------------------------------

UPGRADE_MAIN = textwrap.dedent('''
    """Written against the library as it was (spec as second argument, `kept=`, ...), deployed
    with that library; the upgrade to 0.2.0 and its args objects must not touch what runs."""
    import pulumi
    import pulumi_kubernetes as k8s
    from immutable_infra.kubernetes import ContainerService, ServiceNamespace

    render = k8s.Provider("render", render_yaml_to_directory="build/manifests")
    DIGEST_A, DIGEST_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    BASE = {"resources": {"cpu_request": "20m", "cpu_limit": "200m", "memory_request": "32Mi", "memory_limit": "64Mi"},
            "probes": {"liveness": {"tcp_port": 8080}, "readiness": {"tcp_port": 8080}},
            "ports": [{"name": "http", "container_port": 8080, "service_port": 80}],
            "config_files": [{"name": "app.conf", "content": "mode=prod\\n"}],
            "secrets": [{"name": "token", "value": "upgrade-test-token", "version": "1"}]}
    ns = ServiceNamespace("apps", {"name": "apps"}, opts=pulumi.ResourceOptions(providers=[render]))
    opts = pulumi.ResourceOptions(providers=[render], depends_on=[ns])
    web = {"name": "web", "image": "registry.example.com/acme/web@" + DIGEST_B, "strategy": "blue-green", **BASE}
    # Component and service named differently: the objects ade8425 renamed.
    ContainerService("shop-web", web, kept=[{**web, "image": "registry.example.com/acme/web@" + DIGEST_A}], opts=opts)
    ContainerService("api", {"name": "api", "image": "registry.example.com/acme/api@" + DIGEST_A, **BASE}, opts=opts)
''')

UPGRADE_MAIN_NEW_API = (UPGRADE_MAIN
                        .replace('{"name": "apps"}, opts=', '{"spec": {"name": "apps"}}, opts=')
                        .replace('("shop-web", web, kept=[', '("shop-web", {"spec": web, "previous": [')
                        .replace('DIGEST_A}], opts=opts)', 'DIGEST_A}]}, opts=opts)')
                        .replace('ContainerService("api", {"name": "api"', 'ContainerService("api", {"spec": {"name": "api"')
                        .replace('**BASE}, opts=opts)', '**BASE}}, opts=opts)'))

PREVIOUS_RELEASES = {
    "708e3a8": "0.1.0, the previous release (main before 0.2.0 removed the old spellings)",
    "4ceca57": "before the one constructor shape (the library version before it)",
    "ade8425^": "before the release objects' rename (ade8425)",
}
SAME_WORKLOADS = {"708e3a8", "4ceca57"}
"""From the previous version nothing that runs may even change; from older ones later features
(rollout timeout, ...) may update a workload in place, but never replace or delete one."""


def _library_at(revision: str, into: pathlib.Path) -> pathlib.Path:
    """``components/`` of this repository at ``revision``, importable as ``immutable_infra``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", revision, "components"],
                             check=True, capture_output=True, timeout=120).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "components").rename(into / "immutable_infra")
    return into


@pytest.mark.parametrize("revision", PREVIOUS_RELEASES)
def test_upgrading_the_library_replaces_and_deletes_nothing(tmp_path: pathlib.Path, revision: str) -> None:
    old = _library_at(revision, tmp_path / "old-library")
    project = Project.create(tmp_path, {"Pulumi.yaml": "name: upgrade\nruntime:\n  name: python\n  options:\n"
                                                       "    toolchain: pip\n    virtualenv: x\n",
                                        "__main__.py": UPGRADE_MAIN}, virtualenv=sys.prefix)
    project.init()
    # The old library first on the path (the editable install of this checkout is a meta-path
    # finder appended after the path finder, so PYTHONPATH wins).
    project.extra_env = {"PYTHONPATH": str(old)}
    project.pulumi("up", "--yes", "-s", "dev")
    deployed = project.manifests()
    assert any(d.get("kind") == "Deployment" for d in deployed)

    project.extra_env = {}
    # 0.2.0 removed the old spellings (CHANGELOG.md): the program moves to the args object, and
    # that change of the program's source replaces and deletes nothing either.
    for program in (UPGRADE_MAIN_NEW_API,):
        (project.dir / "__main__.py").write_text(program)
        steps = project.preview_steps()
        # The per-service exec locks give way to the namespace's (created first: see
        # tests/cluster/test_exec_lock_upgrade.py); they are policy objects, not running compute.
        bad = [(s["op"], resource_type(s["urn"]), resource_name(s["urn"])) for s in steps
               if s["op"] in NOT_RUNNING_COMPUTE_SAFE and not (
                   s["op"] == "delete" and resource_name(s["urn"]).endswith(("-exec-lock", "-exec-lock-binding")))]
        assert bad == [], f"upgrading from {revision} ({PREVIOUS_RELEASES[revision]}) would {bad}"
        workloads = [(s["op"], resource_name(s["urn"])) for s in steps
                     if resource_type(s["urn"]) in ("kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Secret",
                                                    "kubernetes:core/v1:ConfigMap")]
        assert workloads, steps
        if revision in SAME_WORKLOADS:  # at most metadata (a kept release's skipAwait annotation)
            for step in steps:
                if resource_type(step["urn"]) in ("kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Secret",
                                                  "kubernetes:core/v1:ConfigMap"):
                    assert step["op"] == "same" or (step["op"] == "update" and all(
                        k.startswith("metadata.") for k in step.get("detailedDiff") or {})), step
    project.pulumi("up", "--yes", "-s", "dev")
    assert project.pulumi("preview", "--expect-no-changes", "-s", "dev", check=False).returncode == 0
