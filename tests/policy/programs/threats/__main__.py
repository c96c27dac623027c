"""The raw programs of policy/THREATS.md (cases.py), one preview per platform and variant.

``POLICY_TEST_PLATFORM`` (``k8s`` or ``docker``) and ``POLICY_TEST_VARIANT`` (``bad`` or
``good``) choose the cases; each case's resources are declared with the plain provider SDKs
(no components), Kubernetes in render mode (no cluster), Docker for a preview (no engine is
contacted for a create). tests/policy/test_policy_engine_threats.py runs it with
``pulumi preview --policy-pack policy/``. Do not "fix" the bad cases.
"""

import os
import re

import pulumi
from cases import BASELINE, CASES, RELEASE

PLATFORM = os.environ.get("POLICY_TEST_PLATFORM", "k8s")
VARIANT = os.environ.get("POLICY_TEST_VARIANT", "bad")
GROUP_MODULES = {"core": "core", "apps": "apps", "batch": "batch", "networking.k8s.io": "networking",
                 "rbac.authorization.k8s.io": "rbac", "admissionregistration.k8s.io": "admissionregistration",
                 "storage.k8s.io": "storage", "discovery.k8s.io": "discovery"}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def snake_keys(value):
    """Docker's nested inputs are SDK types with snake_case names (the engine sees camelCase)."""
    if isinstance(value, dict):
        return {snake(k) if not k.startswith("/") else k: snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    return value


def selected(case) -> bool:
    return case.platform == PLATFORM and case.good == (VARIANT == "good")


if PLATFORM == "k8s":
    import pulumi_kubernetes as k8s

    render_dir = os.environ.get("POLICY_TEST_RENDER_DIR") or os.path.join(os.getcwd(), "build", "rendered")
    provider = k8s.Provider("render", render_yaml_to_directory=render_dir)

    def declare(res) -> None:
        _, group_version, kind = res.type.split(":")
        group, version = group_version.split("/")
        cls = getattr(getattr(getattr(k8s, GROUP_MODULES[group]), version), kind)
        cls(res.name, **{snake(k): v for k, v in res.props.items()},
            opts=pulumi.ResourceOptions(provider=provider, ignore_changes=res.ignore_changes))

    for res in BASELINE:  # the namespace every case lands in: restricted, default deny, exec lock
        declare(res)
else:
    import pulumi_docker as docker

    provider = docker.Provider("local", host=os.environ.get("POLICY_TEST_DOCKER_HOST", "unix:///run/immutable-none.sock"))

    def declare(res) -> None:
        cls = {"docker:index/container:Container": docker.Container, "docker:index/service:Service": docker.Service}[
            res.type]
        cls(res.name, **{snake(k): snake_keys(v) if k != "labels" else v for k, v in res.props.items()},
            opts=pulumi.ResourceOptions(provider=provider, ignore_changes=res.ignore_changes))


for case in CASES:
    if selected(case):
        for res in case.resources:
            declare(res)

pulumi.export("release", RELEASE)
pulumi.export("cases", sorted(case.id for case in CASES if selected(case)))
