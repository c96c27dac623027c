"""The provider's input path without the engine: settling Outputs, and bad input reported exactly as
Python reports it (same paths, masked values, fixes), before anything registers."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pulumi
import pytest
from immutable_infra import SpecError
from immutable_infra.kubernetes import ContainerService
from immutable_infra.provider import ImmutableComponentProvider
from immutable_infra.provider.host import NotKnown, camel_path, settle
from pulumi.errors import InputPropertiesError
from pulumi.output import _OutputData

DIGEST = "registry.example.com/acme/web@sha256:" + "a" * 64
SPEC_CAMEL: dict[str, Any] = {
    "name": "web", "namespace": "apps", "image": DIGEST,
    "ports": [{"name": "http", "containerPort": 8080}],
    "resources": {"cpuRequest": "50m", "cpuLimit": "250m", "memoryRequest": "64Mi", "memoryLimit": "128Mi"},
    "probes": {"liveness": {"httpGet": {"path": "/healthz", "port": "http"}},
               "readiness": {"httpGet": {"path": "/ready", "port": "http"}}},
}


def _snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {camel_to_snake(k): _snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


def camel_to_snake(name: str) -> str:
    if name[:1].isupper():  # env names and the like are data, not field names
        return name
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


@pytest.fixture(scope="module")
def provider() -> ImmutableComponentProvider:
    return ImmutableComponentProvider()


def _resolved_output(value: Any, *, secret: bool = False, known: bool = True) -> pulumi.Output[Any]:
    loop = asyncio.new_event_loop()
    try:
        future: asyncio.Future[Any] = loop.create_future()
        future.set_result(_OutputData(resources=set(), value=value, is_known=known, is_secret=secret))
        out: pulumi.Output[Any] = object.__new__(pulumi.Output)
        out._data = future  # what the provider server builds for a secret or dependent input
        return out
    finally:
        loop.close()


def _python_error(spec: dict[str, Any], **kwargs: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        ContainerService("web", {"spec": spec, **kwargs})
    return info.value


def _yaml_error(provider: ImmutableComponentProvider, inputs: dict[str, Any]) -> InputPropertiesError:
    with pytest.raises(InputPropertiesError) as info:
        provider.construct("web", "immutable:index:ContainerService", inputs)
    return info.value


def test_bad_input_is_reported_as_python_reports_it(provider: ImmutableComponentProvider) -> None:
    bad = copy.deepcopy(SPEC_CAMEL)
    bad["ports"][0]["containerPort"] = 70000
    bad["env"] = {"DB_PASSWORD": "hunter2-in-clear"}
    error = _yaml_error(provider, {"spec": bad})
    python = _python_error(_snake(bad))
    assert error.message == str(python)  # same paths, masked values and fixes, line for line
    assert "hunter2" not in error.message
    paths = {e["property_path"] for e in error.errors or []}
    assert paths == {"spec.ports[0].containerPort", "spec.env.DB_PASSWORD (value masked)"}
    reasons = {e["property_path"]: e["reason"] for e in error.errors or []}
    assert "(got ***)" in reasons["spec.env.DB_PASSWORD (value masked)"]


def test_cross_field_rule_is_reported_at_its_field(provider: ImmutableComponentProvider) -> None:
    bad = {**SPEC_CAMEL, "image": "registry.example.com/acme/web:latest"}
    error = _yaml_error(provider, {"spec": bad})
    assert error.message == str(_python_error(_snake(bad)))
    (detail,) = error.errors or []
    assert detail["property_path"] == "spec.image"
    assert "fix: use repo@sha256:<digest>" in detail["reason"]


def test_secret_spec_is_settled_and_kept_images_errors_point_at_the_image(provider: ImmutableComponentProvider) -> None:
    spec = copy.deepcopy(SPEC_CAMEL)
    spec["secrets"] = [{"name": "db-password", "value": "s3cr3t-value"}]
    error = _yaml_error(provider, {"spec": _resolved_output(spec, secret=True), "keptImages": ["not an image"]})
    assert [e["property_path"] for e in error.errors or []] == ["keptImages[0]"]
    assert "s3cr3t" not in error.message


def test_unknown_input_is_refused_by_its_path(provider: ImmutableComponentProvider) -> None:
    with pytest.raises(InputPropertiesError) as info:
        provider.construct("web", "immutable:index:ContainerService", {"spec": _resolved_output(None, known=False)})
    assert [e["property_path"] for e in info.value.errors or []] == ["spec"]
    assert "not known yet" in info.value.message


def test_settle_unwraps_nested_secrets_and_outputs() -> None:
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "x"}
    assert settle({"a": [secret, _resolved_output("y")]}, "spec") == {"a": ["x", "y"]}
    with pytest.raises(NotKnown) as info:
        settle({"a": [1, _resolved_output(None, known=False)]}, "spec")
    assert info.value.path == "spec.a[1]"


def test_camel_path() -> None:
    assert camel_path("kept[0].security.run_as_user") == "kept[0].security.runAsUser"


def test_whole_numbers_arrive_as_ints() -> None:
    assert settle({"port": 70000.0, "ratio": 0.5}, "spec") == {"port": 70000, "ratio": 0.5}


def test_each_facade_registers_the_python_components_resources(provider: ImmutableComponentProvider) -> None:
    """Through the provider (camelCase inputs) and directly in Python (snake_case): the same resources."""
    from tests.unit.k8s_harness import run_program

    spec = {**SPEC_CAMEL, "strategy": "blue-green", "secrets": [{"name": "db-password", "value": "pw-value-1"}]}
    kept_image = "registry.example.com/acme/web@sha256:" + "b" * 64

    def via_provider() -> dict[str, Any]:
        provider.construct("apps", "immutable:index:ServiceNamespace", {"name": "apps"})
        result = provider.construct("web", "immutable:index:ContainerService",
                                    {"spec": _resolved_output(spec, secret=True), "keptImages": [kept_image]})
        return {"release": result.state["release"], "kept": result.state["keptReleases"]}

    def in_python() -> dict[str, Any]:
        from immutable_infra.kubernetes import ServiceNamespace

        ServiceNamespace("apps", {"spec": {"name": "apps"}})
        web = ContainerService("web", {"spec": _snake(spec), "previous": [{**_snake(spec), "image": kept_image}]})
        return {"release": web.release, "kept": web.kept_releases}

    yaml_side, python_side = run_program(via_provider), run_program(in_python)
    assert sorted((r.type, r.name) for r in yaml_side.resources) == sorted((r.type, r.name) for r in python_side.resources)
    assert yaml_side.outputs == python_side.outputs
    assert len(yaml_side.outputs["kept"]) == 1
