"""The bridged provider (toolchain/modules/docker) speaks the PyPI pulumi-docker SDK's language.

The SDK sends tokens and camelCase property names it was generated with; our own bridge of the
Terraform provider must produce the same ones, or the engine would reject (or silently drop)
inputs. The schema comes from the built plugin itself (`pulumi package get-schema <binary>`).
Checked: every resource and nested type our components use, input names and required inputs.
"""

from __future__ import annotations

import inspect
import json
import subprocess
from typing import Any

import pulumi
import pulumi_docker as docker
import pytest

from tests.docker.harness import DOCKER_PLUGIN, PULUMI, ROOT, pulumi_env

pytestmark = [pytest.mark.docker]

RESOURCES = {
    "docker:index/container:Container": docker.ContainerArgs,
    "docker:index/network:Network": docker.NetworkArgs,
    "docker:index/volume:Volume": docker.VolumeArgs,
    "docker:index/remoteImage:RemoteImage": docker.RemoteImageArgs,
}
TYPES = {
    "docker:index/ContainerHealthcheck:ContainerHealthcheck": docker.ContainerHealthcheckArgs,
    "docker:index/ContainerMount:ContainerMount": docker.ContainerMountArgs,
    "docker:index/ContainerNetworksAdvanced:ContainerNetworksAdvanced": docker.ContainerNetworksAdvancedArgs,
    "docker:index/ContainerPort:ContainerPort": docker.ContainerPortArgs,
    "docker:index/ContainerUpload:ContainerUpload": docker.ContainerUploadArgs,
    "docker:index/ContainerCapabilities:ContainerCapabilities": docker.ContainerCapabilitiesArgs,
    "docker:index/ContainerLabel:ContainerLabel": docker.ContainerLabelArgs,
    "docker:index/VolumeLabel:VolumeLabel": docker.VolumeLabelArgs,
    "docker:index/NetworkLabel:NetworkLabel": docker.NetworkLabelArgs,
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    if not DOCKER_PLUGIN.exists():
        pytest.fail(f"{DOCKER_PLUGIN} is missing: python3 toolchain/build.py builds it")
    proc = subprocess.run([str(PULUMI), "package", "get-schema", str(DOCKER_PLUGIN)], capture_output=True, text=True,
                          env=pulumi_env(ROOT), timeout=300)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def sdk_names(args_cls: type) -> tuple[set[str], set[str]]:
    """(all input names, required input names) the SDK sends for an Args class."""
    names = set(pulumi._types.input_type_py_to_pulumi_names(args_cls).values())
    py_to_pulumi = pulumi._types.input_type_py_to_pulumi_names(args_cls)
    params = inspect.signature(args_cls.__init__).parameters  # type: ignore[misc]
    required = {py_to_pulumi[p.name] for p in params.values()
                if p.name not in ("self", "__self__") and p.default is inspect.Parameter.empty and p.kind != p.VAR_KEYWORD}
    return names, required


def test_version_and_name(schema: dict[str, Any]) -> None:
    assert schema["name"] == "docker"
    assert schema["version"] == json.loads((ROOT / "toolchain" / "versions.json").read_text())[
        "binaries"]["pulumi-resource-docker"]["version"] == "5.2.0"


@pytest.mark.parametrize("token", sorted(RESOURCES))
def test_resource_inputs_match_the_sdk(schema: dict[str, Any], token: str) -> None:
    resource = schema["resources"][token]
    names, required = sdk_names(RESOURCES[token])
    assert set(resource["inputProperties"]) == names
    assert set(resource.get("requiredInputs", [])) == required


@pytest.mark.parametrize("token", sorted(TYPES))
def test_nested_types_match_the_sdk(schema: dict[str, Any], token: str) -> None:
    typ = schema["types"][token]
    names, required = sdk_names(TYPES[token])
    assert set(typ["properties"]) == names
    assert set(typ.get("required", [])) == required


def test_provider_config_names(schema: dict[str, Any]) -> None:
    names, _ = sdk_names(docker.ProviderArgs)
    assert set(schema["provider"]["inputProperties"]) == names
    assert "registryAuth" in names
