"""``ServerGroup``: immutable VMs on AWS, the Spinnaker server-group model done in Pulumi.

Strategy ``replace-group`` (default): every release gets its own security group, launch
template and auto scaling group, all named ``<app>-<env>-<release>``. In one ``pulumi up``:

1. the new group is created beside the old one, attached to the target groups, and the
   update waits until ``desired`` instances pass the ELB health check
   (``wait_for_elb_capacity``, ``health_check_type: ELB``);
2. only then (``depends_on`` the new group) are the previous groups detached from the target
   groups and scaled to 0; the ``keep_previous`` most recent stay so, for instant rollback;
3. the groups of releases no longer kept are not registered any more, so the engine deletes
   them last, after every create and update has succeeded.

Rollback is the same code path: pass an earlier spec as active and the ledger's other
entries as ``previous`` (newest first); its group still exists, so nothing is built, it
scales up and is gated again.

Strategy ``instance-refresh``: one group and one launch template named ``<app>-<env>``; a
release is a new template version, rolled out by an instance refresh with minimum healthy
percentage, checkpoints and auto-rollback.

Secure defaults (SECURITY.md): IMDSv2 required with hop limit 1, encrypted volumes, no public
IP, no key pair, ingress only from the load balancer's security group on the app port, ELB
health checks, and the release id on every resource and instance.
See https://docs.aws.amazon.com/autoscaling/ec2/userguide/attach-load-balancer-asg.html and
https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/autoscaling_group#waiting-for-capacity
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, TypedDict

import pulumi
from pydantic import Field

from .. import PACKAGE
from ..errors import Problem, SpecError, show_value, validate_spec
from ..input_errors import raises_input_errors
from ..inputs import OutputAllowed, args_model, args_problems, normalize_args, take_previous, unknown_args
from .ids import CertificateArn, SecurityGroupId, SubnetId, TargetGroupArn, VpcId
from .ledger import ReleasePlan, ServerGroupPlan, history_problems, plan_releases
from .sdk import aws
from .server_group_spec import ServerGroupSpec
from .state import NFS_PORT
from .tags import base_name, release_tags, shared_tags, target_group_name
from .user_data import encode

TYPE_TOKEN = f"{PACKAGE}:aws:ServerGroup"

SpecInput = ServerGroupSpec | Mapping[str, Any]
StrList = pulumi.Input[Sequence[pulumi.Input[str]]]


class _ServerGroupArgsRequired(TypedDict):
    """The required part of ``ServerGroupArgs``: a base class, so that
    ``__required_keys__`` is right under postponed annotations."""

    spec: SpecInput
    """The active release's spec: a ``ServerGroupSpec`` or a mapping of its fields. Required."""


class ServerGroupArgs(_ServerGroupArgsRequired, total=False):
    """Arguments of ``ServerGroup``. Ids that exist only after deployment are ``pulumi.Input``
    here; each may instead be a literal in the spec (exactly one of the two)."""

    previous: Sequence[SpecInput]
    """The ledger's other releases of this app and env, newest first; the ``keep_previous``
    most recent ones other than ``spec`` are kept for rollback. Default: none."""
    vpc_id: pulumi.Input[str]
    """When ``network.vpc_id`` is not in the spec."""
    subnet_ids: StrList
    """The instances' subnets, when ``network.subnet_ids`` is not in the spec."""
    load_balancer_subnet_ids: StrList
    """The ALB's subnets, when ``load_balancer.subnet_ids`` is not set."""
    certificate_arn: pulumi.Input[str]
    """The HTTPS certificate, when ``load_balancer.certificate_arn`` is not set."""
    target_group_arns: StrList
    """Existing target groups, when ``target_groups.arns`` is not set."""
    load_balancer_security_group_id: pulumi.Input[str]
    """The existing load balancer's security group, when ``target_groups.security_group_id`` is not set."""


_WIRING_ARGS = ("vpc_id", "subnet_ids", "load_balancer_subnet_ids", "certificate_arn", "target_group_arns",
                "load_balancer_security_group_id")
_HISTORY_PATH = re.compile(r"^history\[(\d+)\]")

_SubnetIds = Annotated[list[Annotated[SubnetId, OutputAllowed]], Field(min_length=1, max_length=16), OutputAllowed]
_ARGS = args_model("ServerGroup", {
    # Each id may be an Output (another resource's), or a list holding Outputs; literals follow the spec's rules.
    "vpc_id": Annotated[VpcId, OutputAllowed],
    "subnet_ids": _SubnetIds,
    "load_balancer_subnet_ids": Annotated[list[Annotated[SubnetId, OutputAllowed]],
                                          Field(min_length=2, max_length=16), OutputAllowed],
    "certificate_arn": Annotated[CertificateArn, OutputAllowed],
    "target_group_arns": Annotated[list[Annotated[TargetGroupArn, OutputAllowed]],
                                   Field(min_length=1, max_length=10), OutputAllowed],
    "load_balancer_security_group_id": Annotated[SecurityGroupId, OutputAllowed],
})


def _as_previous_paths(error: SpecError, count: int) -> SpecError:
    """Problems found at ``history[i]`` (oldest first) reported at ``previous[count-1-i]``."""
    problems = [replace(p, path=_HISTORY_PATH.sub(lambda m: f"previous[{count - 1 - int(m[1])}]", p.path))
                for p in error.problems]
    return SpecError(error.subject, problems)


GROUP_METRICS = [
    aws.autoscaling.Metric.GROUP_DESIRED_CAPACITY,
    aws.autoscaling.Metric.GROUP_IN_SERVICE_INSTANCES,
    aws.autoscaling.Metric.GROUP_PENDING_INSTANCES,
    aws.autoscaling.Metric.GROUP_TERMINATING_INSTANCES,
    aws.autoscaling.Metric.GROUP_TOTAL_INSTANCES,
]


# --- inputs that only exist after deployment ------------------------------------------------


@dataclass(frozen=True)
class Wiring:
    """Ids the group is wired to, from the spec or from the constructor's ``pulumi.Input`` arguments."""

    vpc_id: pulumi.Input[str]
    subnet_ids: StrList
    load_balancer_subnet_ids: StrList | None = None
    certificate_arn: pulumi.Input[str] | None = None
    target_group_arns: StrList | None = None
    load_balancer_security_group_id: pulumi.Input[str] | None = None


def resolve_wiring(spec: ServerGroupSpec, args: Mapping[str, Any]) -> tuple[Wiring, list[Problem]]:
    """Each id from exactly one place: the spec (literal) or the argument (``pulumi.Input``)."""
    problems: list[Problem] = []
    lb, tg = spec.load_balancer, spec.target_groups

    def pick(path: str, in_spec: Any, arg_name: str, needed: bool) -> Any:
        arg = args.get(arg_name)
        has_spec = in_spec not in (None, [], ())
        if has_spec and arg is not None:
            problems.append(Problem(path, show_value(in_spec), f"given twice: in the spec and as "
                                    f"args[{arg_name!r}]", "keep one of the two"))
        elif needed and not has_spec and arg is None:
            problems.append(Problem(path, "nothing", "required",
                                    f"set {path} in the spec, or pass args[{arg_name!r}]"))
        elif not needed and arg is not None:
            problems.append(Problem(arg_name, "an argument", f"args[{arg_name!r}] has no use with this spec",
                                    "remove the argument (or set the spec section it belongs to)"))
        return arg if arg is not None else in_spec

    wiring = Wiring(
        vpc_id=pick("network.vpc_id", spec.network.vpc_id, "vpc_id", True),
        subnet_ids=pick("network.subnet_ids", spec.network.subnet_ids, "subnet_ids", True),
        load_balancer_subnet_ids=pick("load_balancer.subnet_ids", lb.subnet_ids if lb else None,
                                      "load_balancer_subnet_ids", lb is not None),
        certificate_arn=pick("load_balancer.certificate_arn", lb.certificate_arn if lb else None,
                             "certificate_arn", lb is not None and lb.https),
        target_group_arns=pick("target_groups.arns", tg.arns if tg else None, "target_group_arns", tg is not None),
        load_balancer_security_group_id=pick("target_groups.security_group_id", tg.security_group_id if tg else None,
                                             "load_balancer_security_group_id", tg is not None),
    )
    return wiring, problems


def _prefixed(problems: Sequence[Problem], prefix: str) -> list[Problem]:
    return [replace(p, path=prefix if p.path == "<root>" else f"{prefix}.{p.path}") for p in problems]


def validate_server_group(
    name: str, spec: SpecInput, history: Sequence[SpecInput], args: Mapping[str, Any]
) -> tuple[ServerGroupSpec, list[ServerGroupSpec], Wiring]:
    """Validate everything the component is given, raising one :class:`SpecError` listing every problem."""
    subject = f"ServerGroup {name!r}"
    problems: list[Problem] = args_problems(_ARGS, args)  # literal ids are checked like the spec's
    active: ServerGroupSpec | None = None
    try:
        active = validate_spec(ServerGroupSpec, spec, subject=subject)
    except SpecError as exc:
        problems += exc.problems
    previous: list[ServerGroupSpec] = []
    for index, entry in enumerate(history):
        try:
            previous.append(validate_spec(ServerGroupSpec, entry))
        except SpecError as exc:
            problems += _prefixed(exc.problems, f"history[{index}]")
    wiring: Wiring | None = None
    if active is not None:
        wiring, wiring_problems = resolve_wiring(active, args)
        problems += wiring_problems
        if len(previous) == len(history):
            problems += history_problems(active, previous)
    if problems or active is None or wiring is None:
        raise SpecError(subject, problems)
    return active, previous, wiring


# --- the component -----------------------------------------------------------------------------


class _ServerGroupOutputs:
    """The outputs of ``ServerGroup`` (declared apart from it: see ``immutable_infra.outputs``)."""

    release: pulumi.Output[str]
    """Id of the active release (the group in service)."""
    active_release: pulumi.Output[str]
    """Same as ``release``."""
    active_group_name: pulumi.Output[str]
    """The active auto scaling group (``<app>-<env>-<release>``), from the group."""
    active_ami_id: pulumi.Output[str]
    """The AMI the active release runs."""
    kept_releases: pulumi.Output[list[str]]
    """Ids of the releases kept at capacity 0 for rollback, newest first."""
    kept_groups: pulumi.Output[list[dict[str, str]]]
    """``[{"release", "ami_id", "group_name"}]`` of the kept groups, newest first."""
    images: pulumi.Output[dict[str, str]]
    """Release id -> AMI, for the active and the kept releases."""
    endpoint: pulumi.Output[str | None]
    """``https://`` (or ``http://``) + the ALB's DNS name (``None`` with ``target_groups``)."""
    load_balancer_arn: pulumi.Output[str | None]
    """ARN of the ALB created here (``None`` with ``target_groups``)."""
    load_balancer_dns_name: pulumi.Output[str | None]
    """DNS name of the ALB created here (``None`` with ``target_groups``)."""
    load_balancer_zone_id: pulumi.Output[str | None]
    """Route 53 hosted zone id of the ALB (for alias records; ``None`` with ``target_groups``)."""
    load_balancer_security_group_id: pulumi.Output[str]
    """The load balancer's security group (created here, or the one given)."""
    instance_security_group_id: pulumi.Output[str]
    """A security group every instance of new releases is in, stable across releases: reference it
    from other groups (a database's ingress, for example). With ``replace-group`` it is a group of
    its own, with ``instance-refresh`` the one group of the instances."""
    target_group_arns: pulumi.Output[list[str]]
    """The target groups the active group is in."""
    opt_outs: pulumi.Output[list[str]]
    """Names of the secure defaults the active release opts out of, sorted."""
    opt_out_reasons: pulumi.Output[dict[str, str]]
    """Opt-out name -> its reason."""


class ServerGroup(pulumi.ComponentResource, _ServerGroupOutputs):
    """Immutable VMs from one AMI, one auto scaling group per release, health-gated cutover.

    ``ServerGroup(name, args: ServerGroupArgs, *, opts=None)``.
    """

    TYPE_TOKEN = TYPE_TOKEN

    @raises_input_errors
    def __init__(
        self,
        name: str,
        args: ServerGroupArgs,
        *,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        subject = f"ServerGroup {name!r}"
        given = normalize_args(subject, args)
        unknown_args(subject, given, lambda: list(ServerGroupArgs.__annotations__))
        previous_specs = take_previous(given)
        wiring_args = {key: given.get(key) for key in _WIRING_ARGS}
        # Everything is validated before the component registers, so a bad input deploys nothing.
        try:
            spec_, previous, wiring = validate_server_group(name, given["spec"], list(reversed(previous_specs)),
                                                            wiring_args)
        except SpecError as exc:
            raise _as_previous_paths(exc, len(previous_specs)) from None
        plan = plan_releases(spec_, previous)
        super().__init__(TYPE_TOKEN, name, None, opts)
        self.spec: ServerGroupSpec = spec_
        self.plan: ServerGroupPlan = plan
        self._name = name
        self._wiring = wiring
        active = plan.active.release
        self._shared_tags = shared_tags(spec_.app, spec_.env, active, spec_.tags, spec_.opt_outs)

        gate: list[pulumi.Resource] = []
        none: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        dns_name, zone_id, lb_arn, endpoint = none, none, none, none
        lb_sg: aws.ec2.SecurityGroup | None = None
        alb: aws.lb.LoadBalancer | None = None
        tg: aws.lb.TargetGroup | None = None
        lb_sg_id: pulumi.Input[str]
        tg_arns: StrList
        if spec_.load_balancer is not None:
            lb_sg, alb, tg, listeners = self._load_balancer()
            lb_sg_id, tg_arns = lb_sg.id, [tg.arn]
            # Health checks only run once the target group is behind a listener.
            gate += listeners
            dns_name = alb.dns_name.apply(lambda v: v)
            zone_id = alb.zone_id.apply(lambda v: v)
            lb_arn = alb.arn.apply(lambda v: v)
            scheme = "https" if spec_.load_balancer.https else "http"
            endpoint = alb.dns_name.apply(lambda v: f"{scheme}://{v}" if v else None)
        else:
            assert wiring.load_balancer_security_group_id is not None
            assert wiring.target_group_arns is not None
            lb_sg_id, tg_arns = wiring.load_balancer_security_group_id, wiring.target_group_arns

        # replace-group: every release has its own security group, so a stable one (no rules of its
        # own) is what other groups can reference. instance-refresh: the one group is stable already.
        self._instances_sg: aws.ec2.SecurityGroup | None = None
        if spec_.strategy == "replace-group":
            base = base_name(spec_.app, spec_.env)
            self._instances_sg = aws.ec2.SecurityGroup(
                f"{name}-instances-sg", name=f"{base}-instances",
                description=f"Every instance of {base} (stable across releases; reference it from other groups)",
                vpc_id=wiring.vpc_id, revoke_rules_on_delete=True, tags=self._shared_tags, opts=self._opts())
        groups: dict[str, aws.autoscaling.Group] = {}
        self._release_sgs: dict[str, aws.ec2.SecurityGroup] = {}
        active_group = self._release(self.plan.active, lb_sg=lb_sg, lb_sg_id=lb_sg_id, tg_arns=tg_arns,
                                     depends_on=gate)
        groups[active] = active_group
        for kept in self.plan.kept:
            # The cutover: old groups leave the load balancer and scale to 0 only after the new
            # group has reached healthy capacity behind it.
            groups[kept.release] = self._release(kept, lb_sg=lb_sg, lb_sg_id=lb_sg_id, tg_arns=tg_arns,
                                                 depends_on=[active_group])
        if spec_.monitoring.alarms:
            self._alarms(active_group, alb, tg)

        self.release = pulumi.Output.from_input(active)
        self.active_release = self.release
        self.active_group_name = active_group.name
        self.active_ami_id = pulumi.Output.from_input(spec_.ami_id)
        self.kept_releases = pulumi.Output.from_input([k.release for k in self.plan.kept])
        self.kept_groups = pulumi.Output.all(*(groups[k.release].name for k in self.plan.kept)).apply(
            lambda names: [{"release": k.release, "ami_id": k.spec.ami_id, "group_name": n}
                           for k, n in zip(self.plan.kept, names, strict=True)])
        self.images = pulumi.Output.from_input({r.release: r.spec.ami_id for r in self.plan.releases})
        self.endpoint = endpoint
        self.load_balancer_arn = lb_arn
        self.load_balancer_dns_name = dns_name
        self.load_balancer_zone_id = zone_id
        self.load_balancer_security_group_id = pulumi.Output.from_input(lb_sg_id).apply(str)
        stable_sg = self._instances_sg if self._instances_sg is not None else self._release_sgs[active]
        self.instance_security_group_id = stable_sg.id.apply(str)
        self.target_group_arns = pulumi.Output.from_input(tg_arns).apply(lambda arns: [str(a) for a in arns])
        self.opt_outs = pulumi.Output.from_input(sorted(spec_.opt_outs))
        self.opt_out_reasons = pulumi.Output.from_input(dict(spec_.opt_outs))
        self.register_outputs({
            "release": self.release,
            "active_release": self.active_release,
            "active_group_name": self.active_group_name,
            "active_ami_id": self.active_ami_id,
            "kept_releases": self.kept_releases,
            "kept_groups": self.kept_groups,
            "images": self.images,
            "endpoint": self.endpoint,
            "load_balancer_arn": self.load_balancer_arn,
            "load_balancer_dns_name": self.load_balancer_dns_name,
            "load_balancer_zone_id": self.load_balancer_zone_id,
            "load_balancer_security_group_id": self.load_balancer_security_group_id,
            "instance_security_group_id": self.instance_security_group_id,
            "target_group_arns": self.target_group_arns,
            "opt_outs": self.opt_outs,
            "opt_out_reasons": self.opt_out_reasons,
        })

    # --- shared: the load balancer --------------------------------------------------------

    def _opts(self, depends_on: Sequence[pulumi.Resource] = (), **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on), **kwargs)

    def _load_balancer(
        self,
    ) -> tuple[aws.ec2.SecurityGroup, aws.lb.LoadBalancer, aws.lb.TargetGroup, list[pulumi.Resource]]:
        spec, name = self.spec, self._name
        lb = spec.load_balancer
        assert lb is not None
        base = base_name(spec.app, spec.env)
        tags = self._shared_tags
        lb_sg = aws.ec2.SecurityGroup(
            f"{name}-lb-sg", name=f"{base}-lb", description=f"Load balancer of {base}",
            vpc_id=self._wiring.vpc_id, revoke_rules_on_delete=True, tags=tags, opts=self._opts())
        for port in lb.listener_ports():
            for i, cidr in enumerate(lb.allowed_cidrs):
                v6 = ipaddress.ip_network(cidr).version == 6
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-lb-ingress-{port}-{i}", security_group_id=lb_sg.id, ip_protocol="tcp",
                    from_port=port, to_port=port, cidr_ipv4=None if v6 else cidr, cidr_ipv6=cidr if v6 else None,
                    description=f"Clients to the listener on {port}", tags=tags, opts=self._opts())
        alb = aws.lb.LoadBalancer(
            f"{name}-alb", name=base, load_balancer_type="application", internal=lb.internal,
            security_groups=[lb_sg.id], subnets=self._wiring.load_balancer_subnet_ids,
            drop_invalid_header_fields=True,  # CKV_AWS_131: no request smuggling through malformed headers
            enable_deletion_protection=lb.deletion_protection, idle_timeout=lb.idle_timeout_seconds,
            access_logs={"bucket": lb.access_logs_bucket, "enabled": True, "prefix": base}
            if lb.access_logs_bucket else None,
            tags=tags,
            # Its name is unique per region: a replacement (internal <-> internet-facing) must free it first.
            opts=self._opts(delete_before_replace=True))
        hc = spec.health_check
        tg = aws.lb.TargetGroup(
            f"{name}-tg", name=target_group_name(spec.app, spec.env, spec.port), port=spec.port, protocol="HTTP",
            target_type="instance", vpc_id=self._wiring.vpc_id,
            deregistration_delay=lb.deregistration_delay_seconds,
            health_check={
                "enabled": True, "path": hc.path, "port": "traffic-port", "protocol": "HTTP",
                "matcher": hc.matcher, "interval": hc.interval_seconds, "timeout": hc.timeout_seconds,
                "healthy_threshold": hc.healthy_threshold, "unhealthy_threshold": hc.unhealthy_threshold,
            },
            tags=tags, opts=self._opts())
        listeners: list[pulumi.Resource] = []
        if lb.https:
            listeners.append(aws.lb.Listener(
                f"{name}-https", load_balancer_arn=alb.arn, port=443, protocol="HTTPS",
                ssl_policy=lb.ssl_policy, certificate_arn=self._wiring.certificate_arn,
                default_actions=[{"type": "forward", "target_group_arn": tg.arn}], tags=tags, opts=self._opts()))
            if lb.redirect_http:
                listeners.append(aws.lb.Listener(
                    f"{name}-http", load_balancer_arn=alb.arn, port=80, protocol="HTTP",
                    default_actions=[{"type": "redirect", "redirect": {
                        "port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"}}],
                    tags=tags, opts=self._opts()))
        else:
            listeners.append(aws.lb.Listener(
                f"{name}-http", load_balancer_arn=alb.arn, port=80, protocol="HTTP",
                default_actions=[{"type": "forward", "target_group_arn": tg.arn}], tags=tags, opts=self._opts()))
        return lb_sg, alb, tg, listeners

    # --- one release: security group, launch template, auto scaling group -------------------

    def _release(
        self,
        plan: ReleasePlan,
        *,
        lb_sg: aws.ec2.SecurityGroup | None,
        lb_sg_id: pulumi.Input[str],
        tg_arns: StrList,
        depends_on: Sequence[pulumi.Resource],
    ) -> aws.autoscaling.Group:
        spec, name = plan.spec, self._name
        refresh = self.spec.strategy == "instance-refresh"
        # Child names carry the release id, except the single group of the instance-refresh strategy.
        suffix = "" if refresh else f"-{plan.release}"
        tags = release_tags(spec.app, spec.env, plan.release, spec.tags, spec.opt_outs)
        sg = aws.ec2.SecurityGroup(
            f"{name}-sg{suffix}", name=plan.group_name,
            description=f"Instances of {base_name(spec.app, spec.env)}",
            vpc_id=self._wiring.vpc_id, revoke_rules_on_delete=True, tags=tags, opts=self._opts())
        self._release_sgs[plan.release] = sg
        rules: list[pulumi.Resource] = [aws.vpc.SecurityGroupIngressRule(
            f"{name}-ingress{suffix}", security_group_id=sg.id, referenced_security_group_id=lb_sg_id,
            ip_protocol="tcp", from_port=spec.port, to_port=spec.port,
            description="Load balancer to the app port", tags=tags, opts=self._opts())]
        if lb_sg is not None:
            rules.append(aws.vpc.SecurityGroupEgressRule(
                f"{name}-lb-egress{suffix}", security_group_id=lb_sg.id, referenced_security_group_id=sg.id,
                ip_protocol="tcp", from_port=spec.port, to_port=spec.port,
                description="Load balancer to the instances", tags=tags, opts=self._opts()))
        for i, rule in enumerate(spec.security.extra_ingress):
            v6 = ipaddress.ip_network(rule.cidr).version == 6
            rules.append(aws.vpc.SecurityGroupIngressRule(
                f"{name}-ingress{suffix}-{i}", security_group_id=sg.id, ip_protocol=rule.protocol,
                from_port=rule.port, to_port=rule.to_port or rule.port,
                cidr_ipv4=None if v6 else rule.cidr, cidr_ipv6=rule.cidr if v6 else None,
                description=rule.description or None, tags=tags, opts=self._opts()))
        for i, egress in enumerate(spec.security.egress):
            v6 = ipaddress.ip_network(egress.cidr).version == 6
            every_port = egress.port is None
            rules.append(aws.vpc.SecurityGroupEgressRule(
                f"{name}-egress{suffix}-{i}", security_group_id=sg.id,
                ip_protocol="-1" if every_port else egress.protocol,
                from_port=None if every_port else egress.port,
                to_port=None if every_port else (egress.to_port or egress.port),
                cidr_ipv4=None if v6 else egress.cidr, cidr_ipv6=egress.cidr if v6 else None,
                description=egress.description or None, tags=tags, opts=self._opts()))
        for i, mount in enumerate(spec.state.efs):
            if mount.security_group_id:
                rules.append(aws.vpc.SecurityGroupEgressRule(
                    f"{name}-efs-egress{suffix}-{i}", security_group_id=sg.id,
                    referenced_security_group_id=mount.security_group_id, ip_protocol="tcp",
                    from_port=NFS_PORT, to_port=NFS_PORT, description=f"NFS to {mount.file_system_id}",
                    tags=tags, opts=self._opts()))

        template = self._launch_template(plan, sg, tags, f"{name}-lt{suffix}", versioned=refresh)
        version = template.latest_version.apply(str)
        types = spec.instance_types
        launch: dict[str, Any]
        if len(types) == 1:
            launch = {"launch_template": {"id": template.id, "version": version}}
        else:
            launch = {"mixed_instances_policy": {
                "launch_template": {
                    "launch_template_specification": {"launch_template_id": template.id, "version": version},
                    "overrides": [{"instance_type": t} for t in types],
                },
                "instances_distribution": {"on_demand_allocation_strategy": "prioritized",
                                           "on_demand_percentage_above_base_capacity": 100},
            }}
        scaling = self.spec.scaling
        active = plan.active
        prefs = self.spec.refresh
        group = aws.autoscaling.Group(
            f"{name}-asg{suffix}",
            name=plan.group_name,
            vpc_zone_identifiers=self._wiring.subnet_ids,
            min_size=scaling.min_size if active else 0,
            max_size=scaling.max_size if active else 0,
            desired_capacity=scaling.desired if active else 0,
            # Kept groups are out of the load balancer; the active one is in it.
            target_group_arns=tg_arns if active else [],
            health_check_type="ELB",
            health_check_grace_period=self.spec.health_check.grace_period_seconds,
            # The health gate: create/update waits for this many healthy instances behind the ELB.
            wait_for_elb_capacity=scaling.desired if active else None,
            wait_for_capacity_timeout=self.spec.health_check.capacity_timeout,
            enabled_metrics=GROUP_METRICS,
            metrics_granularity="1Minute",
            # With replace-group a release's template only changes if a wiring input changes (the
            # VPC); the refresh then replaces the instances instead of leaving a mixed fleet.
            instance_refresh={
                "strategy": "Rolling",
                "preferences": {
                    "min_healthy_percentage": prefs.min_healthy_percentage,
                    "max_healthy_percentage": prefs.max_healthy_percentage,
                    "instance_warmup": str(prefs.instance_warmup_seconds),
                    "checkpoint_percentages": prefs.checkpoint_percentages or None,
                    "checkpoint_delay": str(prefs.checkpoint_delay_seconds) if prefs.checkpoint_percentages
                    else None,
                    "auto_rollback": True,
                    "skip_matching": False,
                    # Protected and standby instances are replaced too: no mixed fleet left behind.
                    "scale_in_protected_instances": "Refresh",
                    "standby_instances": "Terminate",
                },
            },
            tags=[{"key": k, "value": v, "propagate_at_launch": True}
                  for k, v in sorted({**tags, "Name": plan.group_name}.items())],
            opts=self._opts(depends_on=[*depends_on, *rules]),
            **launch,
        )
        return group

    def _launch_template(
        self, plan: ReleasePlan, sg: aws.ec2.SecurityGroup, tags: dict[str, str], resource_name: str,
        *, versioned: bool,
    ) -> aws.ec2.LaunchTemplate:
        spec = plan.spec
        sec = spec.security
        profile = spec.iam_instance_profile
        instance_tags = {**tags, "Name": plan.group_name}
        return aws.ec2.LaunchTemplate(
            resource_name,
            name=plan.group_name,
            description=f"{base_name(spec.app, spec.env)} release {plan.release} ({spec.ami_id})",
            image_id=spec.ami_id,
            instance_type=spec.instance_types[0],
            user_data=encode(spec.rendered_user_data()),
            iam_instance_profile=None if profile is None else (
                {"arn": profile} if profile.startswith("arn:") else {"name": profile}),
            key_name=sec.key_name,
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required" if sec.imdsv2_required else "optional",
                "http_put_response_hop_limit": sec.metadata_hop_limit,
                # Tag keys here contain '/', which instance-metadata tags do not allow.
                "instance_metadata_tags": "disabled",
            },
            block_device_mappings=[{
                "device_name": v.device_name,
                "ebs": {
                    "volume_size": v.size_gib, "volume_type": v.volume_type, "iops": v.iops,
                    "throughput": v.throughput_mibps, "kms_key_id": v.kms_key_id, "snapshot_id": v.snapshot_id,
                    "encrypted": "true" if v.encrypted else "false",
                    # State lives outside the VMs: an instance's volumes go with it.
                    "delete_on_termination": "true",
                },
            } for v in spec.volumes],
            network_interfaces=[{
                "device_index": 0,
                "associate_public_ip_address": "true" if sec.associate_public_ip else "false",
                "security_groups": [sg.id, *([self._instances_sg.id] if self._instances_sg is not None else [])],
                "delete_on_termination": "true",
            }],
            monitoring={"enabled": spec.detailed_monitoring},
            tag_specifications=[{"resource_type": kind, "tags": instance_tags}
                                for kind in ("instance", "volume", "network-interface")],
            # instance-refresh: each release is a new version of the one template, made the default.
            update_default_version=True if versioned else None,
            tags=tags,
            # replace-group: a release's template is fixed when the release is created. The stable
            # instance group joined the network interfaces in a later library version; ignoring changes
            # there leaves the templates of running releases (and so their instances) untouched: new
            # releases get it, running ones keep what they were launched with.
            opts=self._opts(ignore_changes=None if versioned else ["network_interfaces"]),
        )

    # --- monitoring ----------------------------------------------------------------------------

    def _alarms(self, group: aws.autoscaling.Group, alb: aws.lb.LoadBalancer | None,
                tg: aws.lb.TargetGroup | None) -> None:
        spec, name = self.spec, self._name
        mon = spec.monitoring
        base = base_name(spec.app, spec.env)
        release = self.plan.active.release
        common: dict[str, Any] = {
            "period": mon.period_seconds, "evaluation_periods": mon.evaluation_periods,
            "alarm_actions": mon.alarm_actions, "ok_actions": mon.alarm_actions,
            "tags": self._shared_tags,
        }
        if spec.scaling.min_size > 0:
            aws.cloudwatch.MetricAlarm(
                f"{name}-alarm-in-service", name=f"{base}-in-service",
                alarm_description=f"{base}: fewer than {spec.scaling.min_size} in-service instances "
                                  f"in release {release}",
                namespace="AWS/AutoScaling", metric_name="GroupInServiceInstances",
                dimensions={"AutoScalingGroupName": group.name}, statistic="Minimum",
                comparison_operator="LessThanThreshold", threshold=float(spec.scaling.min_size),
                treat_missing_data="breaching", opts=self._opts(), **common)
        if alb is not None and tg is not None:
            aws.cloudwatch.MetricAlarm(
                f"{name}-alarm-unhealthy-hosts", name=f"{base}-unhealthy-hosts",
                alarm_description=f"{base}: unhealthy targets behind the load balancer (release {release})",
                namespace="AWS/ApplicationELB", metric_name="UnHealthyHostCount",
                dimensions={"TargetGroup": tg.arn_suffix, "LoadBalancer": alb.arn_suffix}, statistic="Maximum",
                comparison_operator="GreaterThanThreshold", threshold=0.0,
                treat_missing_data="notBreaching", opts=self._opts(), **common)
