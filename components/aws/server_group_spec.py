"""``ServerGroupSpec``: one application's VMs on AWS, deployed as immutable releases.

What defines what runs (AMI, instance types, user data, instance profile, port, volumes,
security settings, state mounts, tags stamped on the instances) is the release: a change to
any of it makes a new launch template and auto scaling group named ``<app>-<env>-<release>``.
Group sizes (``scaling``), how releases are rolled out and kept (``strategy``,
``keep_previous``, ``instance_refresh``) and the wiring around the group (``network``,
``load_balancer``, ``target_groups``, ``health_check``, ``monitoring``) are not.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, field_validator

from ..fields import (
    IDENTITY,
    RETENTION,
    ROUTING,
    SCALE,
    Cidr,
    DnsLabel,
    Flag,
    Int,
    OptOut,
    Port,
    Problems,
    Spec,
    invalid,
    pattern,
    rule,
)
from ..release import release_id
from .ids import (
    AmiId,
    CertificateArn,
    DeviceName,
    InstanceProfile,
    InstanceType,
    KeyName,
    KmsKeyArn,
    S3Bucket,
    SecurityGroupId,
    SnapshotId,
    SnsTopicArn,
    SubnetId,
    TargetGroupArn,
    VpcId,
)
from .state import State, boot_script
from .tags import NAME_ROOM, base_name, check_tags
from .user_data import MAX_USER_DATA_BYTES, check_user_data, combine, content_type

WORLD = ("0.0.0.0/0", "::/0")
REMOTE_SHELL_PORTS = (22, 3389)

Strategy = Literal["replace-group", "instance-refresh"]
SubnetTier = Literal["private", "public"]

SgDescription = Annotated[str, pattern(
    r"[A-Za-z0-9. _\-:/()#,@\[\]+=&;{}!$*]{0,255}", "a security group rule description",
    "use at most 255 letters, digits, spaces and . _ - : / ( ) # , @ [ ] + = & ; { } ! $ * (no quotes or accents)")]
HealthPath = Annotated[str, pattern(
    r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,1023}", "a health check path",
    "start it with '/' and use URL characters only (no spaces, no '?'), e.g. '/health'")]
Matcher = Annotated[str, pattern(
    r"[1-5][0-9]{2}(-[1-5][0-9]{2})?(,[1-5][0-9]{2}(-[1-5][0-9]{2})?)*", "an HTTP status matcher",
    "list status codes or ranges separated by commas, e.g. '200', '200-399' or '200,301'")]
Duration = Annotated[str, pattern(r"[1-9][0-9]*[smh]", "a duration",
                                  "write a whole number with s, m or h, e.g. '15m' (never 0)")]


# --- instance ---------------------------------------------------------------------------


class Volume(Spec):
    """An EBS volume created with each instance and deleted with it (state lives elsewhere)."""

    device_name: DeviceName = "/dev/xvda"
    """Default ``/dev/xvda``, the root device of Amazon Linux AMIs (Ubuntu uses ``/dev/sda1``)."""
    size_gib: Annotated[Int, Field(ge=1, le=16384)] = 20
    """Size in GiB (1-16384). Default 20."""
    volume_type: Literal["gp3", "gp2", "io1", "io2", "st1", "sc1"] = "gp3"
    """EBS type: ``gp3`` (default), ``gp2``, ``io1``, ``io2``, ``st1`` or ``sc1``."""
    iops: Annotated[Int, Field(ge=100, le=256000)] | None = None
    """Only for gp3 (3000-16000), io1 and io2 (required there)."""
    throughput_mibps: Annotated[Int, Field(ge=125, le=1000)] | None = None
    """Only for gp3."""
    encrypted: Flag = True
    """Default true (CKV_AWS_8). ``false`` needs ``security.opt_outs.unencrypted_volumes``."""
    kms_key_id: KmsKeyArn | None = None
    """Customer-managed key; default is the account's EBS key. Conflicts with ``encrypted: false``."""
    snapshot_id: SnapshotId | None = None
    """Create the volume from this snapshot. Default: empty."""

    @rule
    def _type_rules(self, problems: Problems) -> None:
        if self.iops is not None and self.volume_type not in ("gp3", "io1", "io2"):
            problems.add(("iops",), self.iops, f"iops cannot be set on {self.volume_type} volumes",
                         "remove iops, or use volume_type gp3, io1 or io2")
        if self.iops is None and self.volume_type in ("io1", "io2"):
            problems.add(("iops",), None, f"{self.volume_type} volumes need provisioned iops", "set iops")
        if self.throughput_mibps is not None and self.volume_type != "gp3":
            problems.add(("throughput_mibps",), self.throughput_mibps, "throughput is only set on gp3 volumes",
                         "remove throughput_mibps, or use volume_type gp3")
        if self.kms_key_id is not None and not self.encrypted:
            problems.add(("kms_key_id",), self.kms_key_id, "a KMS key on an unencrypted volume",
                         "remove kms_key_id, or keep encrypted true")


class IngressRule(Spec):
    """Extra ingress to the instances, besides the load balancer's (which is always there)."""

    cidr: Cidr
    """Source network, e.g. ``10.0.0.0/16``."""
    port: Port
    """Port (or start of the range) to open."""
    to_port: Port | None = None
    """End of a port range; default: ``port`` alone."""
    protocol: Literal["tcp", "udp"] = "tcp"
    """``tcp`` (default) or ``udp``."""
    description: SgDescription = ""
    """Shown in the AWS console."""

    @rule
    def _range(self, problems: Problems) -> None:
        if self.to_port is not None and self.to_port < self.port:
            problems.add(("to_port",), self.to_port, f"`to_port` ({self.to_port}) is below `port` ({self.port})",
                         "swap them")

    def covers(self, port: int) -> bool:
        return self.port <= port <= (self.to_port or self.port)


class EgressRule(Spec):
    """Where the instances may connect to."""

    cidr: Cidr
    """Destination network, e.g. ``10.0.0.0/16``."""
    port: Port | None = None
    """``None`` means every port and protocol (needs ``opt_outs.open_egress`` towards the internet)."""
    to_port: Port | None = None
    """End of a port range; default: ``port`` alone."""
    protocol: Literal["tcp", "udp"] = "tcp"
    """``tcp`` (default) or ``udp``."""
    description: SgDescription = ""
    """Shown in the AWS console."""

    @rule
    def _range(self, problems: Problems) -> None:
        if self.to_port is not None and (self.port is None or self.to_port < self.port):
            problems.add(("to_port",), self.to_port, f"`to_port` ({self.to_port}) needs a `port` at or below it",
                         "set port, or drop to_port")


OptOutName = Literal[
    "imdsv1",
    "imds_hop_limit",
    "unencrypted_volumes",
    "public_ip",
    "ssh_access",
    "public_ingress",
    "open_egress",
    "public_subnets",
    "plain_http",
]


class OptOuts(Spec):
    """Explicit exceptions to secure defaults, each with a reason.

    Every opt-out set here is stamped on the release's resources as the tag
    ``immutable.dev/opt-out/<name>`` and listed in the component's ``opt_outs`` output.
    """

    imdsv1: OptOut | None = None
    """Allow IMDSv1 (``http_tokens: optional``; CKV_AWS_79)."""
    imds_hop_limit: OptOut | None = None
    """Allow a metadata hop limit above 1 (containers on the host reach the credentials; CKV_AWS_341)."""
    unencrypted_volumes: OptOut | None = None
    """Allow ``encrypted: false`` on volumes (CKV_AWS_8)."""
    public_ip: OptOut | None = None
    """Give instances a public IP (CKV_AWS_88)."""
    ssh_access: OptOut | None = None
    """Allow a key pair or port 22/3389 ingress (CKV_AWS_24, 25, 260, 277)."""
    public_ingress: OptOut | None = None
    """Allow extra ingress from 0.0.0.0/0 or ::/0."""
    open_egress: OptOut | None = None
    """Allow egress on every port to 0.0.0.0/0 or ::/0."""
    public_subnets: OptOut | None = None
    """Place instances in public subnets."""
    plain_http: OptOut | None = None
    """Serve the load balancer's listener over plain HTTP (CKV_AWS_2)."""

    def reasons(self) -> dict[str, str]:
        """``{name: reason}`` of every opt-out that is set."""
        return {name: opt.reason for name in type(self).model_fields
                if (opt := getattr(self, name)) is not None}


class Security(Spec):
    """Instance security settings. All of it is part of the release, opt-out reasons included
    (they are stamped on the instances as tags)."""

    imdsv2_required: Flag = True
    """IMDSv2 session tokens required (default). ``false`` needs ``opt_outs.imdsv1``."""
    metadata_hop_limit: Annotated[Int, Field(ge=1, le=64)] = 1
    """Default 1: only the host itself reaches the metadata service. Above 1 needs ``opt_outs.imds_hop_limit``."""
    associate_public_ip: Flag = False
    """Default false (CKV_AWS_88). ``true`` needs ``opt_outs.public_ip``."""
    key_name: KeyName | None = None
    """SSH key pair; default none (instances are never logged into). Needs ``opt_outs.ssh_access``."""
    extra_ingress: Annotated[list[IngressRule], Field(max_length=20)] = Field(default_factory=list)
    """Ingress besides the load balancer's, which is always allowed on ``port``. Default none."""
    egress: Annotated[list[EgressRule], Field(max_length=20)] = Field(
        default_factory=lambda: [EgressRule(cidr="0.0.0.0/0", port=443, description="HTTPS to AWS APIs")]
    )
    """Default: HTTPS (443) anywhere, for AWS APIs (SSM, CloudWatch, S3). Every port anywhere
    needs ``opt_outs.open_egress``."""
    opt_outs: OptOuts = Field(default_factory=OptOuts)
    """Reviewed exceptions to the secure defaults (tagged on every resource)."""

    @rule
    def _secure_defaults(self, problems: Problems) -> None:
        opt = self.opt_outs
        if not self.imdsv2_required and opt.imdsv1 is None:
            problems.add(("imdsv2_required",), False, "IMDSv1 would be allowed (CKV_AWS_79)",
                         "keep imdsv2_required true, or set security.opt_outs.imdsv1 with a reason")
        if self.metadata_hop_limit > 1 and opt.imds_hop_limit is None:
            problems.add(("metadata_hop_limit",), self.metadata_hop_limit,
                         "a hop limit above 1 lets containers reach the instance's credentials (CKV_AWS_341)",
                         "keep 1, or set security.opt_outs.imds_hop_limit with a reason")
        if self.associate_public_ip and opt.public_ip is None:
            problems.add(("associate_public_ip",), True, "instances would get a public IP (CKV_AWS_88)",
                         "keep it false and reach them through the load balancer, "
                         "or set security.opt_outs.public_ip with a reason")
        if self.key_name is not None and opt.ssh_access is None:
            problems.add(("key_name",), self.key_name, "an SSH key pair on immutable instances (CKV_AWS_24)",
                         "remove key_name (use SSM Session Manager for break-glass), "
                         "or set security.opt_outs.ssh_access with a reason")
        for i, ingress in enumerate(self.extra_ingress):
            shell = [p for p in REMOTE_SHELL_PORTS if ingress.covers(p)]
            if shell and opt.ssh_access is None:
                problems.add(("extra_ingress", i, "port"), ingress.port,
                             f"remote shell port {shell[0]} would be open (CKV_AWS_24, CKV_AWS_25)",
                             "remove the rule: instances are replaced, never logged into; "
                             "or set security.opt_outs.ssh_access with a reason")
            if ingress.cidr in WORLD and opt.public_ingress is None:
                problems.add(("extra_ingress", i, "cidr"), ingress.cidr, "ingress from anywhere (CKV_AWS_260)",
                             "narrow the CIDR, or set security.opt_outs.public_ingress with a reason")
        for i, egress in enumerate(self.egress):
            if egress.port is None and egress.cidr in WORLD and opt.open_egress is None:
                problems.add(("egress", i, "port"), None, "egress on every port to anywhere",
                             "list the ports the instances need (e.g. 443), "
                             "or set security.opt_outs.open_egress with a reason")


# --- rollout ------------------------------------------------------------------------------


class Scaling(Spec):
    """Group size: scale knobs, never part of the release."""

    min_size: Annotated[Int, Field(ge=0, le=1000)] = 2
    """Default 2."""
    max_size: Annotated[Int, Field(ge=1, le=1000)] = 4
    """Default 4; >= ``min_size``."""
    desired_capacity: Annotated[Int, Field(ge=0, le=1000)] | None = None
    """Default ``min_size``; between ``min_size`` and ``max_size``. The active group must reach
    this many healthy instances behind the load balancer before the cutover goes on."""

    @rule
    def _bounds(self, problems: Problems) -> None:
        if self.min_size > self.max_size:
            problems.add(("min_size",), self.min_size,
                         f"`min_size` ({self.min_size}) must be <= `max_size` ({self.max_size})",
                         "lower min_size or raise max_size")
        elif self.desired_capacity is not None and not self.min_size <= self.desired_capacity <= self.max_size:
            problems.add(("desired_capacity",), self.desired_capacity,
                         f"`desired_capacity` ({self.desired_capacity}) must be between `min_size` "
                         f"({self.min_size}) and `max_size` ({self.max_size})",
                         "set it within the bounds, or leave it out (defaults to min_size)")

    @property
    def desired(self) -> int:
        return self.min_size if self.desired_capacity is None else self.desired_capacity


class InstanceRefresh(Spec):
    """Preferences of the ``instance-refresh`` strategy. Auto-rollback is always on, protected
    and standby instances are always replaced: a refresh never leaves a mixed fleet."""

    min_healthy_percentage: Annotated[Int, Field(ge=0, le=100)] = 90
    """Default 90."""
    max_healthy_percentage: Annotated[Int, Field(ge=100, le=200)] = 100
    """Default 100; at most ``min_healthy_percentage`` + 100; above 100 when min is 100."""
    instance_warmup_seconds: Annotated[Int, Field(ge=0, le=3600)] = 300
    """Seconds a new instance gets before it counts as healthy. Default 300."""
    checkpoint_percentages: Annotated[list[Annotated[Int, Field(ge=1, le=100)]], Field(max_length=10)] = Field(
        default_factory=list)
    """Pauses, as percentages replaced; strictly increasing and ending at 100. Default none."""
    checkpoint_delay_seconds: Annotated[Int, Field(ge=0, le=172800)] = 3600
    """Pause at each checkpoint, in seconds. Default 3600."""

    @rule
    def _no_mixed_fleet(self, problems: Problems) -> None:
        points = self.checkpoint_percentages
        if points and (points[-1] != 100 or any(a >= b for a, b in pairwise(points))):
            problems.add(("checkpoint_percentages",), points,
                         "checkpoints must increase and end at 100, or the refresh stops part-way "
                         "and leaves a mixed fleet",
                         "write them like [20, 50, 100]")
        if self.max_healthy_percentage - self.min_healthy_percentage > 100:
            problems.add(("max_healthy_percentage",), self.max_healthy_percentage,
                         "`max_healthy_percentage` may exceed `min_healthy_percentage` by at most 100",
                         "lower max_healthy_percentage or raise min_healthy_percentage")
        if self.min_healthy_percentage == 100 and self.max_healthy_percentage == 100:
            problems.add(("max_healthy_percentage",), 100,
                         "with 100% minimum and maximum healthy, no instance can ever be replaced",
                         "raise max_healthy_percentage (e.g. 110) or lower min_healthy_percentage")


# --- wiring (not part of the release) ----------------------------------------------------


class Network(Spec):
    """Where the instances run. Ids unknown until deployment go to ``ServerGroupArgs`` (`vpc_id`, `subnet_ids`)."""

    vpc_id: VpcId | None = None
    """Literal VPC id, or pass ``ServerGroupArgs["vpc_id"]`` (exactly one of the two)."""
    subnet_ids: Annotated[list[SubnetId], Field(max_length=16)] = Field(default_factory=list)
    """Literal subnet ids, or pass ``ServerGroupArgs["subnet_ids"]`` (exactly one of the two)."""
    subnet_tier: SubnetTier = "private"
    """What kind of subnets the instances are in. ``public`` needs ``security.opt_outs.public_subnets``."""

    @field_validator("subnet_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise invalid("a subnet is listed twice", "remove the duplicate")
        return value


class LoadBalancer(Spec):
    """Create an Application Load Balancer, a target group and its listeners."""

    internal: Flag = True
    """Default true. An internet-facing load balancer (``false``) needs public subnets."""
    subnet_ids: Annotated[list[SubnetId], Field(max_length=16)] = Field(default_factory=list)
    """At least two (in two AZs), or pass ``ServerGroupArgs["load_balancer_subnet_ids"]``."""
    subnet_tier: SubnetTier = "private"
    """Kind of the load balancer's subnets: ``private`` when internal, ``public`` when not."""
    allowed_cidrs: Annotated[list[Cidr], Field(min_length=1, max_length=20)]
    """Who may reach the listeners. No default (say ``["0.0.0.0/0"]`` explicitly for the internet)."""
    https: Flag = True
    """TLS on port 443 (default). ``false`` serves plain HTTP on 80 and needs ``security.opt_outs.plain_http``."""
    certificate_arn: CertificateArn | None = None
    """ACM certificate for HTTPS, or pass ``ServerGroupArgs["certificate_arn"]``."""
    ssl_policy: Literal[
        "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        "ELBSecurityPolicy-TLS13-1-3-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    ] = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    """TLS 1.2+ policies only."""
    redirect_http: Flag = True
    """With HTTPS, also listen on 80 and redirect to 443. Default true."""
    idle_timeout_seconds: Annotated[Int, Field(ge=1, le=4000)] = 60
    """Seconds an idle connection stays open. Default 60."""
    deregistration_delay_seconds: Annotated[Int, Field(ge=0, le=3600)] = 30
    """Seconds connections drain from a leaving instance. Default 30."""
    deletion_protection: Flag = False
    """Protect the load balancer from deletion. Default false."""
    access_logs_bucket: S3Bucket | None = None
    """S3 bucket for access logs (CKV_AWS_91); default none."""

    @rule
    def _placement(self, problems: Problems) -> None:
        if self.internal and self.subnet_tier == "public":
            problems.add(("subnet_tier",), "public", "an internal load balancer placed in public subnets",
                         "use private subnets for an internal load balancer, or set internal: false")
        if not self.internal and self.subnet_tier == "private":
            problems.add(("subnet_tier",), "private",
                         "an internet-facing load balancer in private subnets is unreachable",
                         "use public subnets (subnet_tier: public), or keep it internal")
        if len(self.subnet_ids) == 1:
            problems.add(("subnet_ids",), self.subnet_ids, "an ALB needs subnets in at least two AZs",
                         "list two or more subnets")
        if not self.https and self.certificate_arn is not None:
            problems.add(("certificate_arn",), self.certificate_arn, "a certificate without HTTPS",
                         "remove certificate_arn, or keep https true")

    def listener_ports(self) -> list[int]:
        return ([443, 80] if self.redirect_http else [443]) if self.https else [80]


class TargetGroups(Spec):
    """Attach to existing target groups (a load balancer managed elsewhere)."""

    arns: Annotated[list[TargetGroupArn], Field(max_length=10)] = Field(default_factory=list)
    """Literal ARNs, or pass ``ServerGroupArgs["target_group_arns"]``."""
    security_group_id: SecurityGroupId | None = None
    """The load balancer's security group, the only source allowed to reach the instances;
    or pass ``ServerGroupArgs["load_balancer_security_group_id"]``."""


class HealthCheck(Spec):
    """ELB health check of the target group and the group's health gate."""

    path: HealthPath = "/health"
    """HTTP path answering 2xx/3xx when the instance is ready. Default ``/health``."""
    matcher: Matcher = "200-399"
    """HTTP codes that count as healthy: ``200``, ``200-399`` (default) or ``200,301``."""
    grace_period_seconds: Annotated[Int, Field(ge=0, le=7200)] = 300
    """Time after launch before a failing check replaces an instance. Default 300."""
    interval_seconds: Annotated[Int, Field(ge=5, le=300)] = 15
    """Seconds between checks. Default 15."""
    timeout_seconds: Annotated[Int, Field(ge=2, le=120)] = 5
    """Below ``interval_seconds``."""
    healthy_threshold: Annotated[Int, Field(ge=2, le=10)] = 3
    """Passing checks in a row before a target is healthy. Default 3."""
    unhealthy_threshold: Annotated[Int, Field(ge=2, le=10)] = 3
    """Failing checks in a row before a target is unhealthy. Default 3."""
    capacity_timeout: Duration = "15m"
    """How long an update waits for healthy capacity before failing (``15m``). Never ``0``:
    that would switch the health gate off."""

    @rule
    def _timing(self, problems: Problems) -> None:
        if self.timeout_seconds >= self.interval_seconds:
            problems.add(("timeout_seconds",), self.timeout_seconds,
                         f"`timeout_seconds` ({self.timeout_seconds}) must be below "
                         f"`interval_seconds` ({self.interval_seconds})",
                         "lower the timeout or raise the interval")


class Monitoring(Spec):
    """CloudWatch alarms on the active group's health."""

    alarms: Flag = True
    """In-service instances below ``min_size``; unhealthy hosts (when the ALB is created here)."""
    alarm_actions: Annotated[list[SnsTopicArn], Field(max_length=5)] = Field(default_factory=list)
    """SNS topics notified on alarm and on recovery."""
    period_seconds: Literal[10, 30, 60, 300] = 60
    """Alarm period: 10, 30, 60 (default) or 300 seconds."""
    evaluation_periods: Annotated[Int, Field(ge=1, le=100)] = 3
    """Periods in a row below the threshold before an alarm fires. Default 3."""


# --- the spec --------------------------------------------------------------------------------


class ServerGroupSpec(Spec):
    """A group of immutable VMs built from one AMI, deployed release by release."""

    app: Annotated[DnsLabel, IDENTITY]
    """Application name; first part of every name. No default."""
    env: Annotated[DnsLabel, IDENTITY]
    """Environment name (``dev``, ``prod``); ``<app>-<env>`` is at most 24 characters."""
    ami_id: AmiId
    """The image, by id (``ami-...``). No default."""
    instance_types: Annotated[list[InstanceType], Field(min_length=1, max_length=20)]
    """One or more types, first preferred (several make a mixed-instances group). No default."""
    user_data: str | None = None
    """Shell script or cloud-config run at first boot. At most 16 KiB; no secrets."""
    iam_instance_profile: InstanceProfile | None = None
    """Instance profile name or ARN. Default none."""
    port: Port = 8080
    """Port the application listens on; the only one the load balancer reaches. Default 8080."""
    volumes: Annotated[list[Volume], Field(min_length=1, max_length=16)] = Field(
        default_factory=lambda: [Volume()])
    """Volumes created with each instance. Default: a 20 GiB encrypted gp3 root at ``/dev/xvda``."""
    detailed_monitoring: Flag = True
    """One-minute EC2 metrics (CKV_AWS_126). Default true."""
    security: Security = Field(default_factory=Security)
    """Instance metadata, network access and opt-outs."""
    state: State = Field(default_factory=State)
    """EFS file systems and EBS volumes kept outside the VMs, mounted at boot."""
    tags: dict[str, str] = Field(default_factory=dict)
    """Extra tags on every resource. Part of the release: they are stamped on instances at launch."""

    scaling: Annotated[Scaling, SCALE] = Field(default_factory=Scaling)
    """Group sizes (scale knobs, not part of the release)."""
    strategy: Annotated[Strategy, RETENTION] = "replace-group"
    """``replace-group`` (default): a new group per release. ``instance-refresh``: one group,
    a new template version per release, instances replaced by an instance refresh."""
    keep_previous: Annotated[Int, Field(ge=0, le=10), RETENTION] = 1
    """Previous releases kept at capacity 0 for instant rollback (replace-group). Default 1."""
    instance_refresh: Annotated[InstanceRefresh | None, RETENTION] = None
    """Refresh preferences; only with ``strategy: instance-refresh``."""
    network: Annotated[Network, ROUTING] = Field(default_factory=Network)
    """VPC, subnets and subnet tier of the instances."""
    load_balancer: Annotated[LoadBalancer | None, ROUTING] = None
    """Create an ALB + target group + listeners. Exactly one of this and ``target_groups``."""
    target_groups: Annotated[TargetGroups | None, ROUTING] = None
    """Attach to existing target groups. Exactly one of this and ``load_balancer``."""
    health_check: Annotated[HealthCheck, ROUTING] = Field(default_factory=HealthCheck)
    """ELB health check and the cutover's health gate."""
    monitoring: Annotated[Monitoring, ROUTING] = Field(default_factory=Monitoring)
    """CloudWatch alarms."""

    # --- single-field rules ----------------------------------------------------------

    @field_validator("user_data")
    @classmethod
    def _user_data(cls, value: str | None) -> str | None:
        return None if value is None else check_user_data(value)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        return check_tags(value)

    @field_validator("instance_types")
    @classmethod
    def _distinct_types(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise invalid("an instance type is listed twice", "remove the duplicate")
        return value

    # --- cross-field rules -------------------------------------------------------------

    @rule
    def _cross_field(self, problems: Problems) -> None:
        name = base_name(self.app, self.env)
        if len(name) > NAME_ROOM:
            problems.add(("env",), self.env, f"`<app>-<env>` ({name!r}) is {len(name)} characters, "
                         f"at most {NAME_ROOM} fit AWS name limits",
                         "shorten app or env (load balancer and target group names stop at 32)")
        if self.app == "internal":
            problems.add(("app",), self.app, "AWS reserves load balancer names starting with 'internal-'",
                         "choose another app name")

    @rule
    def _check_volumes(self, problems: Problems) -> None:
        opt = self.security.opt_outs
        devices: set[str] = set()
        for i, volume in enumerate(self.volumes):
            if volume.device_name in devices:
                problems.add(("volumes", i, "device_name"), volume.device_name,
                             "two volumes use the same device name", "give each volume its own device")
            devices.add(volume.device_name)
            if not volume.encrypted and opt.unencrypted_volumes is None:
                problems.add(("volumes", i, "encrypted"), False, "unencrypted EBS volume (CKV_AWS_8)",
                             "remove `encrypted: false`, "
                             "or set security.opt_outs.unencrypted_volumes with a reason")
        for i, data in enumerate(self.state.data_volumes):
            if data.device_name in devices:
                problems.add(("state", "data_volumes", i, "device_name"), data.device_name,
                             "device name already used by `volumes`", "pick another device, e.g. /dev/sdf")

    @rule
    def _check_subnets(self, problems: Problems) -> None:
        if self.network.subnet_tier == "public" and self.security.opt_outs.public_subnets is None:
            problems.add(("network", "subnet_tier"), "public",
                         "instances in public subnets (without a public IP they cannot even reach the internet)",
                         "use private subnets behind the load balancer, "
                         "or set security.opt_outs.public_subnets with a reason")

    @rule
    def _check_load_balancing(self, problems: Problems) -> None:
        if self.load_balancer is None and self.target_groups is None:
            problems.add(("load_balancer",), None,
                         "no load balancer: the cutover is gated on ELB health checks",
                         "set load_balancer (create an ALB) or target_groups (attach to existing ones)")
        if self.load_balancer is not None and self.target_groups is not None:
            problems.add(("target_groups",), "set", "both load_balancer and target_groups are set",
                         "keep one: create an ALB or attach to existing target groups")
        if (self.load_balancer is not None and not self.load_balancer.https
                and self.security.opt_outs.plain_http is None):
            problems.add(("load_balancer", "https"), False, "a listener without TLS (CKV_AWS_2)",
                         "keep https true with a certificate_arn, "
                         "or set security.opt_outs.plain_http with a reason")

    @rule
    def _check_strategy(self, problems: Problems) -> None:
        if self.strategy == "replace-group" and self.instance_refresh is not None:
            problems.add(("instance_refresh",), "set", "instance_refresh only applies to strategy instance-refresh",
                         "remove it, or set strategy: instance-refresh")
        if self.strategy == "instance-refresh" and "keep_previous" in self.model_fields_set \
                and self.keep_previous > 0:
            problems.add(("keep_previous",), self.keep_previous,
                         "instance-refresh keeps one group, so no previous release can be kept",
                         "remove keep_previous, or use strategy replace-group")
        if not self.state.data_volumes:
            return
        if self.strategy != "instance-refresh":
            problems.add(("state", "data_volumes"), f"{len(self.state.data_volumes)} volume(s)",
                         "a data volume attaches to one instance at a time, but replace-group runs "
                         "the old and new groups side by side",
                         "move the state to EFS, or use strategy instance-refresh with one instance")
        elif self.scaling.max_size != 1:
            problems.add(("scaling", "max_size"), self.scaling.max_size,
                         "a data volume attaches to one instance, so the group can hold only one",
                         "set scaling.max_size to 1, or move the state to EFS")
        elif self.refresh.min_healthy_percentage != 0 or self.refresh.max_healthy_percentage != 100:
            problems.add(("instance_refresh", "min_healthy_percentage"), self.refresh.min_healthy_percentage,
                         "the old instance must let go of the data volume before the new one starts",
                         "set instance_refresh.min_healthy_percentage 0 and max_healthy_percentage 100")

    @rule
    def _check_user_data(self, problems: Problems) -> None:
        script = boot_script(self.state)
        if script is None or self.user_data is None:
            rendered = script or self.user_data
        elif content_type(self.user_data) is None:
            problems.add(("user_data",), self.user_data[:40],
                         "user data that is neither a script (#!) nor cloud-config cannot follow the state mounts",
                         "start it with '#!/bin/bash' or '#cloud-config'")
            return
        else:
            rendered = combine(script, self.user_data)
        if rendered is not None and len(rendered.encode()) > MAX_USER_DATA_BYTES:
            problems.add(("user_data",), f"{len(rendered.encode())} bytes with the state mounts",
                         f"user data with the state boot script exceeds {MAX_USER_DATA_BYTES} bytes",
                         "shorten the user data (bake more into the AMI)")

    # --- derived -------------------------------------------------------------------------

    @property
    def release(self) -> str:
        """The release id: content hash of the release-defining fields."""
        return release_id(self)

    @property
    def refresh(self) -> InstanceRefresh:
        """The instance-refresh preferences in effect (defaults when not set)."""
        return self.instance_refresh or InstanceRefresh()

    @property
    def opt_outs(self) -> dict[str, str]:
        """``{name: reason}`` of every secure default this spec opts out of."""
        return self.security.opt_outs.reasons()

    def rendered_user_data(self) -> str | None:
        """The user data the instances get: state mounts first, then ``user_data``."""
        return combine(boot_script(self.state), self.user_data)

    def with_ami(self, ami_id: str) -> ServerGroupSpec:
        """The same group running another image (for the ledger); revalidated."""
        return type(self).model_validate({**self.model_dump(mode="python", exclude_unset=True), "ami_id": ami_id})
