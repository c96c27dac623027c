"""The Pulumi YAML example (examples/yaml) on the real engine: the YAML language host built by
toolchain/build.py, the component provider in provider/ run by our Python host's RunPlugin, and
the Kubernetes provider in render mode, on a temporary local backend."""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from immutable_infra import ContainerServiceSpec, yaml_text

from .harness import PULUMI, ROOT, Workspace, changed, resource_name, resource_type, toolchain_missing

YAML_HOST = ROOT / ".toolchain" / "bin" / "pulumi-language-yaml"
EXAMPLE = ROOT / "examples" / "yaml"
TWIN = ROOT / "tests" / "provider" / "programs" / "twin"
PASSWORD = "yaml-example-db-password"


def _missing() -> str | None:
    return toolchain_missing() or (None if YAML_HOST.exists() else f"{YAML_HOST} is missing: run python3 toolchain/build.py")


pytestmark = [pytest.mark.engine, pytest.mark.slow, pytest.mark.skipif(_missing() is not None, reason=_missing() or "")]

NEW_WEB = "registry.example.com/acme/web@sha256:" + hashlib.sha256(b"web-1.6.0").hexdigest()


def _workspace(tmp: pathlib.Path, source: pathlib.Path, program: dict[str, Any] | None = None) -> Workspace:
    """A copy of ``source`` with its own backend (the harness's env), the provider path made absolute."""
    ws = Workspace.create(tmp)  # for the env and backend; the project files are replaced below
    shutil.rmtree(ws.dir)
    shutil.copytree(source, ws.dir, ignore=shutil.ignore_patterns("build", "__pycache__"))
    meta = program or yaml.safe_load((ws.dir / "Pulumi.yaml").read_text())
    if "packages" in meta:
        meta["packages"] = {"immutable": str(ROOT / "provider")}
    else:
        meta["runtime"]["options"]["virtualenv"] = str(pathlib.Path(sys.prefix))
    (ws.dir / "Pulumi.yaml").write_text(yaml_text.dump(meta, sort_keys=False))
    return ws


def _init(ws: Workspace, stack: str, project: str) -> None:
    ws.pulumi("stack", "init", stack, "--secrets-provider", "passphrase")
    ws.pulumi("config", "set", "--secret", f"{project}:apiDbPassword", PASSWORD, "-s", stack)


def _snake(value: Any) -> Any:
    """The YAML program's camelCase keys as the Python spec's field names (data keys such as env
    names start upper-case and stay)."""
    if isinstance(value, dict):
        return {(k if k[:1].isupper() else re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), k)): _snake(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


def yaml_specs(overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """The specs the YAML program gives the components, resolved like the YAML engine does for the
    few interpolations the example uses (config values and the namespace's name)."""
    program = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())
    values = {k: v.get("default") for k, v in program["config"].items()} | {"apiDbPassword": PASSWORD}
    values |= overrides or {}
    values["apps.name"] = program["resources"]["apps"]["properties"]["name"]

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, str) and (m := re.fullmatch(r"\$\{([\w.]+)\}", value)):
            return values[m.group(1)]
        return value

    props = {name: resolve(program["resources"][name]["properties"]) for name in ("api", "web")}
    return {"namespace": values["apps.name"], "api": _snake(props["api"]["spec"]), "web": _snake(props["web"]["spec"]),
            "web_kept_images": props["web"]["keptImages"]}


def release_of(spec: dict[str, Any]) -> str:
    return ContainerServiceSpec.model_validate(spec).release


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, str]]:
    ws = _workspace(tmp_path_factory.mktemp("yaml"), EXAMPLE)
    _init(ws, "render", "immutable-yaml-example")
    preview = ws.pulumi("preview", "-s", "render")
    ws.pulumi("up", "--yes", "-s", "render")
    yield ws, preview.stdout


def test_preview_shows_the_release_ids(deployed: tuple[Workspace, str]) -> None:
    _, preview = deployed
    specs = yaml_specs()
    assert release_of(specs["web"]) in preview, preview
    assert release_of(specs["api"]) in preview


def test_yaml_example_deploys_a_namespace_and_two_services(deployed: tuple[Workspace, str]) -> None:
    ws, _ = deployed
    outputs = json.loads(ws.pulumi("stack", "output", "--json", "-s", "render", "--show-secrets").stdout)
    specs = yaml_specs()
    web, kept = release_of(specs["web"]), release_of({**specs["web"], "image": specs["web_kept_images"][0]})
    assert outputs["webRelease"] == web and outputs["webKeptReleases"] == [kept]
    assert outputs["apiRelease"] == release_of(specs["api"])
    assert outputs["namespace"] == "apps"
    files = {p.name for p in (ws.dir / "build" / "manifests").rglob("*.yaml")}
    assert any(f"deployment-apps-web-{web}" in f for f in files), files
    assert any(f"deployment-apps-web-{kept}" in f for f in files), files  # the kept release, beside it
    assert any(f.startswith("v1-namespace-") and f.endswith("-apps.yaml") for f in files), files


def test_secret_from_config_stays_secret(deployed: tuple[Workspace, str]) -> None:
    ws, _ = deployed
    assert PASSWORD not in json.dumps(ws.export("render"))
    assert PASSWORD not in (ws.dir / "Pulumi.render.yaml").read_text()


def test_second_up_changes_nothing(deployed: tuple[Workspace, str]) -> None:
    ws, _ = deployed
    assert changed(ws.preview_steps("render")) == []


def _shape(steps: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(s["op"], resource_type(s["urn"]), resource_name(s["urn"])) for s in steps}


def test_new_image_swaps_the_release_like_the_python_program(deployed: tuple[Workspace, str],
                                                            tmp_path: pathlib.Path) -> None:
    ws, _ = deployed
    before = yaml_specs()
    change = {"webImage": NEW_WEB, "webKeptImage": before["web"]["image"]}
    for key, value in change.items():
        ws.pulumi("config", "set", f"immutable-yaml-example:{key}", value, "-s", "render")
    try:
        yaml_steps = changed(ws.preview_steps("render"))
    finally:
        for key in change:
            ws.pulumi("config", "rm", f"immutable-yaml-example:{key}", "-s", "render")

    # The same resources and the same change, written in Python.
    twin = _workspace(tmp_path, TWIN)
    _init(twin, "twin", "immutable-twin")
    twin.pulumi("config", "set", "immutable-twin:renderDir", "build/manifests", "-s", "twin")
    twin.pulumi("config", "set", "immutable-twin:specs", json.dumps(_without_secrets(before)), "-s", "twin")
    twin.pulumi("up", "--yes", "-s", "twin")
    after = yaml_specs(change)
    twin.pulumi("config", "set", "immutable-twin:specs", json.dumps(_without_secrets(after)), "-s", "twin")
    python_steps = changed(twin.preview_steps("twin"))

    new_release = release_of(after["web"])
    assert ("create", "kubernetes:apps/v1:Deployment", f"web-{new_release}") in _shape(yaml_steps)
    assert all(resource_name(s["urn"]).startswith("web") for s in yaml_steps), _shape(yaml_steps)
    assert _shape(yaml_steps) == _shape(python_steps)


def _without_secrets(specs: dict[str, Any]) -> dict[str, Any]:
    api = {**specs["api"], "secrets": [{**s, "value": "<from the secret config>"} for s in specs["api"]["secrets"]]}
    return {**specs, "api": api}


def test_bad_input_fails_with_the_field_path_before_anything_registers(tmp_path: pathlib.Path) -> None:
    program = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())
    web = program["resources"]["web"]["properties"]["spec"]
    web["image"] = "registry.example.com/acme/web:latest"
    web["env"]["DB_PASSWORD"] = "hunter2-in-clear"
    ws = _workspace(tmp_path, EXAMPLE, program)
    _init(ws, "render", "immutable-yaml-example")
    proc = ws.pulumi("up", "--yes", "-s", "render", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "spec.env" in out and "looks like a secret in plain env" in out, out
    assert "fix: move it to `secrets`" in out
    assert "hunter2" not in out
    # The valid sibling `api` (in flight in the same provider process) reports nothing: no
    # `grpc: the client connection is closing` noise (components/provider/host.py, point 3).
    assert "client connection is closing" not in out, out
    assert "resource 'api' has a problem" not in out, out
    state = json.dumps(ws.export("render"))
    assert "kubernetes:apps/v1:Deployment" not in state or "web-" not in state
    assert not list((ws.dir / "build" / "manifests").rglob("*web*"))
    assert PULUMI.exists()
