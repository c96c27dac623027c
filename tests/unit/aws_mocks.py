"""Pulumi mocks for the AWS components: record every registration the engine would see.

``Harness.run(build)`` runs ``build`` as a Pulumi program under mocks. A ``MockMonitor``
subclass records each ``RegisterResource`` request as the engine receives it: type,
logical name, URN, resolved inputs (provider property names, camelCase), parent URN,
dependency URNs (explicit ``depends_on`` and those implied by inputs) and the replacement
options (``deleteBeforeReplace``, ``replaceOnChanges``, ``ignoreChanges``). The mocks
return the inputs as state, plus the computed attributes the components read
(``latestVersion``, ``dnsName``, ``arn``, ``arnSuffix``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as runtime_mocks
from pulumi.runtime import rpc

ACCOUNT = "123456789012"
REGION = "eu-west-1"

ASG = "aws:autoscaling/group:Group"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPONENT = "immutable:aws:ServerGroup"


@dataclass
class Registered:
    """One ``RegisterResource`` request, as the engine received it."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    parent: str
    dependencies: list[str]
    custom: bool
    delete_before_replace: bool
    replace_on_changes: list[str]
    ignore_changes: list[str]
    order: int


def _computed(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Attributes AWS computes that the components read."""
    physical = inputs.get("name", name)
    if typ == LAUNCH_TEMPLATE:
        return {"latestVersion": 1, "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/lt-{physical}"}
    if typ == LOAD_BALANCER:
        suffix = f"app/{physical}/0123456789abcdef"
        return {"dnsName": f"{physical}-1234567890.{REGION}.elb.amazonaws.com", "arnSuffix": suffix,
                "zoneId": "Z32O12XQLNTSW2",
                "arn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/{suffix}"}
    if typ == TARGET_GROUP:
        suffix = f"targetgroup/{physical}/0123456789abcdef"
        return {"arnSuffix": suffix, "arn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:{suffix}"}
    if typ == LISTENER:
        return {"arn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/{name}"}
    if typ == ASG:
        return {"arn": f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:{physical}"}
    return {}


class AwsMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        return f"{args.name}-id", {**args.inputs, **_computed(args.typ, args.name, args.inputs)}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class RecordingMonitor(runtime_mocks.MockMonitor):
    """A mock monitor that keeps every registration request (not only the mocked state)."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registered: list[Registered] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = rpc.deserialize_properties(request.object)
        with self._lock:
            self.registered.append(Registered(
                type=request.type, name=request.name, urn=response.urn, inputs=dict(inputs),
                parent=request.parent, dependencies=list(request.dependencies), custom=request.custom,
                delete_before_replace=request.deleteBeforeReplace,
                replace_on_changes=list(request.replaceOnChanges),
                ignore_changes=list(request.ignoreChanges), order=len(self.registered)))
        return response


@dataclass
class Program:
    """What a program registered, and the component outputs it resolved."""

    resources: list[Registered]
    outputs: dict[str, Any] = field(default_factory=dict)

    def named(self, name: str) -> Registered:
        matches = [r for r in self.resources if r.name == name]
        assert len(matches) == 1, f"{name} not registered once among {sorted(self.names)}"
        return matches[0]

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.type == typ]

    @property
    def names(self) -> set[str]:
        return {r.name for r in self.resources}

    def urn(self, name: str) -> str:
        return self.named(name).urn


class Harness:
    """Runs programs under fresh mocks; ``registered`` survives a program that raised."""

    def __init__(self) -> None:
        self.monitor: RecordingMonitor | None = None

    @property
    def registered(self) -> list[Registered]:
        return [] if self.monitor is None else list(self.monitor.registered)

    def run(self, build: Callable[[], Any], outputs: Sequence[str] = ()) -> Program:
        mocks = AwsMocks()
        self.monitor = RecordingMonitor(mocks)
        pulumi.runtime.settings.set_root_resource(None)  # a fresh stack per run
        runtime_mocks.set_mocks(mocks, project="immutable-test", stack="test", preview=False, monitor=self.monitor)
        resolved: dict[str, Any] = {}

        def program() -> Any:
            component = build()
            if not outputs:
                return None
            values = [getattr(component, key) for key in outputs]
            return pulumi.Output.all(*values).apply(lambda vals: resolved.update(zip(outputs, vals, strict=True)))

        pulumi.runtime.test(program)()
        return Program(sorted(self.monitor.registered, key=lambda r: r.order), resolved)


def run(build: Callable[[], Any], outputs: Sequence[str] = ()) -> Program:
    return Harness().run(build, outputs)


# --- server group fixtures ----------------------------------------------------------------

AMI_A = "ami-0123456789abcdef0"
AMI_B = "ami-0fedcba9876543210"
AMI_C = "ami-0aaaaaaaaaaaaaaaa"
AMI_D = "ami-0bbbbbbbbbbbbbbbb"
VPC = "vpc-0123456789abcdef0"
SUBNETS = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
LB_SUBNETS = ["subnet-0cccccccccccccccc", "subnet-0dddddddddddddddd"]
CERT = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/01234567-89ab-cdef-0123-456789abcdef"
TG_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/shared-web/0123456789abcdef"
LB_SG = "sg-0123456789abcdef0"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:oncall"

WIRING: dict[str, Any] = {
    "vpc_id": VPC,
    "subnet_ids": SUBNETS,
    "load_balancer_subnet_ids": LB_SUBNETS,
    "certificate_arn": CERT,
}
"""Constructor arguments for a spec with ``load_balancer`` (ids known only after deployment)."""


def server_group_spec(**overrides: Any) -> dict[str, Any]:
    """A small valid server group spec with its own ALB; ``overrides`` replace top-level keys."""
    spec: dict[str, Any] = {
        "app": "web",
        "env": "prod",
        "ami_id": AMI_A,
        "instance_types": ["t3.micro"],
        "user_data": "#!/bin/bash\nsystemctl start web\n",
        "iam_instance_profile": "web-prod",
        "load_balancer": {"allowed_cidrs": ["10.0.0.0/8"]},
        "scaling": {"min_size": 2, "max_size": 4, "desired_capacity": 3},
        "monitoring": {"alarm_actions": [TOPIC]},
    }
    spec.update(overrides)
    return spec
