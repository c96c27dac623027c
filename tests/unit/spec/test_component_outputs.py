"""Components declare their outputs on a base class (``immutable_infra.outputs``): the Python SDK
re-reads a resource class's own annotations on every registration, so none may sit on the
component itself, while type checkers, the README's API tables and the provider schema still see
every output."""

from __future__ import annotations

import inspect
import typing

import pulumi
import pytest
from immutable_infra.aws import ServerGroup
from immutable_infra.docker import DockerContainerService, StackNetwork
from immutable_infra.kubernetes import ContainerService, ServiceNamespace
from immutable_infra.outputs import declared_outputs, output_classes
from immutable_infra.provider.catalog import _outputs
from pulumi import _types

COMPONENTS = [ContainerService, ServiceNamespace, DockerContainerService, StackNetwork, ServerGroup]


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.__name__)
def test_the_sdk_finds_no_annotations_to_reread_on_the_component(component: type) -> None:
    assert inspect.get_annotations(component) == {}
    # What the SDK computes per registration: nothing left to resolve.
    assert _types.resource_types(component) == {}


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.__name__)
def test_every_output_stays_declared_typed_and_documented(component: type) -> None:
    outputs = declared_outputs(component)
    assert outputs, component
    hints = {name: hint for klass in output_classes(component)
             for name, hint in inspect.get_annotations(klass, eval_str=True).items()}
    for name in outputs:
        assert typing.get_origin(hints[name]) is pulumi.Output, name
    served = {o.name: o for o in _outputs(component)}
    assert list(served) == list(outputs)
    assert all(o.doc for o in served.values()), [o.name for o in served.values() if not o.doc]


def test_the_container_service_outputs_are_the_ones_its_users_read() -> None:
    assert list(declared_outputs(ContainerService)) == [
        "release", "active_release", "kept_releases", "images", "endpoint", "opt_outs", "service_name",
        "namespace", "selector_labels", "ports"]
