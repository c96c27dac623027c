"""AWS checks: instances that are replaced, never patched, and closed by default.

Resources: ``aws:ec2/launchTemplate:LaunchTemplate``, ``aws:autoscaling/group:Group``,
``aws:ec2/instance:Instance``, ``aws:ec2/securityGroup:SecurityGroup``,
``aws:ec2/securityGroupRule:SecurityGroupRule``, ``aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule``,
``aws:ebs/volume:Volume`` (inputs in camelCase, as pulumi-aws 7 sends them).

Docs behind the rules:
- IMDSv2 and the hop limit: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-new-instances.html
- ELB health checks for groups: https://docs.aws.amazon.com/autoscaling/ec2/userguide/health-checks-overview.html
- ``user_data_replace_on_change``: https://www.pulumi.com/registry/packages/aws/api-docs/ec2/instance/
"""

from __future__ import annotations

import base64
import ipaddress
import json
from collections.abc import Mapping
from typing import Any

from .common import (
    NO_CONTEXT,
    RELEASE_KEY,
    Context,
    as_dict,
    as_int,
    as_list,
    config_value,
    falsy,
    get,
    is_unknown,
    iter_dicts,
    opt_outs,
    tags_map,
    truthy,
    valid_opt_outs,
    valid_release,
)
from .shared import REASON_FIX, credential_kind, rules

open_to_internet = rules.open_to_internet

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
INSTANCE = "aws:ec2/instance:Instance"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EBS_VOLUME = "aws:ebs/volume:Volume"

COMPUTE_TYPES = frozenset({LAUNCH_TEMPLATE, AUTOSCALING_GROUP, INSTANCE})
REMOTE_LOGIN_PORTS = {22: "SSH", 3389: "RDP"}
ALL_PROTOCOLS = frozenset({"-1", "all"})
PORTED_PROTOCOLS = frozenset({"tcp", "udp", "6", "17"})


def resource_tags(props: Mapping[str, Any], provider: Mapping[str, Any]) -> dict[str, Any]:
    """A resource's tags merged over its provider's ``defaultTags`` (as AWS applies them)."""
    merged = tags_map(get(provider, "defaultTags", "tags"))
    merged.update(tags_map(props.get("tags")))
    return merged


def exempt(props: Mapping[str, Any], ctx: Context) -> set[str]:
    """Opt-outs recorded with a reason as ``immutable.dev/opt-out/<name>`` tags (ServerGroup)."""
    return valid_opt_outs(resource_tags(props, ctx.provider))


# --- instance settings ---------------------------------------------------------------


def check_imdsv2(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """IMDSv2 tokens required and a response hop limit of 1 (CKV_AWS_79, CKV_AWS_341).

    Opt-outs: ``imdsv1`` (tokens), ``imds_hop_limit`` (hop limit).
    """
    if resource_type not in (LAUNCH_TEMPLATE, INSTANCE, LAUNCH_CONFIGURATION):
        return []
    options = props.get("metadataOptions")
    if is_unknown(options):
        return []
    if options is None and resource_type == INSTANCE and props.get("launchTemplate") is not None:
        return []  # the launch template it starts from is checked on its own
    options = as_dict(options)
    if options.get("httpEndpoint") == "disabled":
        return []  # no metadata service at all
    hop_limit = int(config_value(ctx, "hopLimit", 1))
    skip = exempt(props, ctx)
    out = []
    tokens = options.get("httpTokens")
    if "imdsv1" not in skip and not is_unknown(tokens) and tokens != "required":
        shown = "not set (IMDSv1 stays on)" if tokens is None else repr(tokens)
        out.append(f"metadataOptions.httpTokens is {shown}; set it to 'required' (IMDSv2 only)")
    hops = options.get("httpPutResponseHopLimit")
    if "imds_hop_limit" not in skip and not is_unknown(hops) and as_int(hops) != hop_limit:
        shown = "not set (the AMI decides)" if hops is None else str(as_int(hops))
        out.append(f"metadataOptions.httpPutResponseHopLimit is {shown}; set it to {hop_limit} so "
                   "containers on the instance cannot reach the instance's credentials")
    return out


def check_encrypted_volumes(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """Every EBS volume encrypted (CKV_AWS_8).

    A launch template or instance that declares no root volume leaves encryption to the AMI's
    snapshot; that passes only when config ``encryptionByDefault`` says the account enforces it.
    Opt-out: ``unencrypted_volumes``.
    """
    by_default = bool(config_value(ctx, "encryptionByDefault", False))
    if "unencrypted_volumes" in exempt(props, ctx):
        return []
    if resource_type == EBS_VOLUME:
        value = props.get("encrypted")
        if is_unknown(value) or truthy(value) or by_default:
            return []
        return ["encrypted is not true; set encrypted: true (and a kms_key_id for a customer key)"]
    if resource_type == LAUNCH_TEMPLATE:
        mappings = props.get("blockDeviceMappings")
        if is_unknown(mappings):
            return []
        out = []
        ebs_seen = False
        for index, mapping in iter_dicts(mappings):
            ebs = mapping.get("ebs")
            if not isinstance(ebs, Mapping):
                continue
            ebs_seen = True
            value = ebs.get("encrypted")
            if not is_unknown(value) and not truthy(value) and not by_default:
                out.append(f"blockDeviceMappings[{index}] ({mapping.get('deviceName')!r}): "
                           "ebs.encrypted is not 'true'; set it to 'true'")
        if not ebs_seen and not by_default:
            out.append("no blockDeviceMappings with ebs: the root volume is only as encrypted as the AMI's "
                       "snapshot; declare it with ebs.encrypted 'true' (or set encryptionByDefault in "
                       "this policy's config when the account enforces EBS encryption)")
        return out
    if resource_type == INSTANCE:
        if by_default:
            return []
        out = []
        root = props.get("rootBlockDevice")
        # Without a rootBlockDevice the root volume comes from the launch template (checked on
        # its own) or from the AMI's snapshot.
        from_template = root is None and props.get("launchTemplate") is not None
        value = get(root, "encrypted")
        if not from_template and not is_unknown(value) and not truthy(value):
            out.append("rootBlockDevice.encrypted is not true; set root_block_device.encrypted=True")
        for index, device in iter_dicts(props.get("ebsBlockDevices")):
            value = device.get("encrypted")
            if not is_unknown(value) and not truthy(value):
                out.append(f"ebsBlockDevices[{index}] ({device.get('deviceName')!r}): encrypted is not true; "
                           "set encrypted: true")
        return out
    return []


def check_no_public_ip(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """No public IP address on instances (CKV_AWS_88): traffic comes through the load balancer.

    Opt-out: ``public_ip``.
    """
    if "public_ip" in exempt(props, ctx):
        return []
    if resource_type == LAUNCH_TEMPLATE:
        return [f"networkInterfaces[{index}].associatePublicIpAddress is true; set it to false (traffic comes "
                "through the load balancer)"
                for index, nic in iter_dicts(props.get("networkInterfaces"))
                if truthy(nic.get("associatePublicIpAddress"))]
    if resource_type in (INSTANCE, LAUNCH_CONFIGURATION) and truthy(props.get("associatePublicIpAddress")):
        return ["associatePublicIpAddress is true; keep instances private behind the load balancer"]
    return []


def check_no_ssh_key(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type not in (LAUNCH_TEMPLATE, INSTANCE, LAUNCH_CONFIGURATION):
        return []
    key = props.get("keyName")
    if isinstance(key, str) and key:
        return [f"keyName {key!r} installs an SSH key pair; immutable servers are replaced, not logged "
                "into (use SSM Session Manager for break-glass access)"]
    return []


# --- ingress ---------------------------------------------------------------------------


class Ingress:
    """One ingress permission, normalised across the three ways of writing it."""

    def __init__(self, where: str, protocol: Any, from_port: Any, to_port: Any,
                 cidrs: list[Any], has_other_source: bool) -> None:
        self.where = where
        self.protocol = str(protocol).lower() if isinstance(protocol, (str, int, float)) else protocol
        if isinstance(protocol, float):
            self.protocol = str(int(protocol))
        self.from_port = as_int(from_port)
        self.to_port = as_int(to_port)
        self.cidrs = [c for c in cidrs if isinstance(c, str)]
        self.unknown = is_unknown(protocol) or is_unknown(from_port) or is_unknown(to_port)
        self.has_other_source = has_other_source

    @property
    def all_ports(self) -> bool:
        if self.protocol in ALL_PROTOCOLS:
            return True
        if self.protocol not in PORTED_PROTOCOLS:
            return False
        low, high = self.from_port, self.to_port
        return (low in (None, 0, -1)) and (high in (None, 65535, -1))

    def covers(self, port: int) -> bool:
        if self.protocol in ALL_PROTOCOLS:
            return True
        if self.protocol not in PORTED_PROTOCOLS:
            return False
        if self.all_ports:
            return True
        low = self.from_port if self.from_port is not None else 0
        high = self.to_port if self.to_port is not None else low
        return low <= port <= high

    def ports_within(self, allowed: set[int]) -> bool:
        if self.all_ports or self.protocol in ALL_PROTOCOLS:
            return False
        if self.protocol not in PORTED_PROTOCOLS:
            return True  # ICMP and friends carry no ports
        low = self.from_port if self.from_port is not None else 0
        high = self.to_port if self.to_port is not None else low
        return high - low < 1024 and all(p in allowed for p in range(low, high + 1))

    def describe(self) -> str:
        if self.protocol in ALL_PROTOCOLS or self.all_ports:
            return "all ports"
        if self.from_port == self.to_port:
            return f"port {self.from_port}/{self.protocol}"
        return f"ports {self.from_port}-{self.to_port}/{self.protocol}"


def ingress_rules(resource_type: str, props: Mapping[str, Any]) -> list[Ingress]:
    """The ingress permissions a security group resource declares."""
    if resource_type == SECURITY_GROUP:
        ingress = props.get("ingress")
        return [
            Ingress(f"ingress[{i}]", rule.get("protocol"), rule.get("fromPort"), rule.get("toPort"),
                    as_list(rule.get("cidrBlocks")) + as_list(rule.get("ipv6CidrBlocks")),
                    bool(as_list(rule.get("securityGroups")) or truthy(rule.get("self"))
                         or as_list(rule.get("prefixListIds"))))
            for i, rule in iter_dicts(ingress)
        ]
    if resource_type == SECURITY_GROUP_RULE:
        if props.get("type") != "ingress":
            return []
        return [Ingress("rule", props.get("protocol"), props.get("fromPort"), props.get("toPort"),
                        as_list(props.get("cidrBlocks")) + as_list(props.get("ipv6CidrBlocks")),
                        props.get("sourceSecurityGroupId") is not None or truthy(props.get("self"))
                        or bool(as_list(props.get("prefixListIds"))))]
    if resource_type == INGRESS_RULE:
        cidrs = [c for c in (props.get("cidrIpv4"), props.get("cidrIpv6")) if c is not None]
        return [Ingress("rule", props.get("ipProtocol"), props.get("fromPort"), props.get("toPort"), cidrs,
                        props.get("referencedSecurityGroupId") is not None
                        or props.get("prefixListId") is not None)]
    return []


def _within(cidr: str, allowed: list[str]) -> bool:
    try:
        network = ipaddress.ip_network(cidr, strict=False)
        for item in allowed:
            other = ipaddress.ip_network(item, strict=False)
            if network.version == other.version and network.subnet_of(other):  # type: ignore[arg-type]
                return True
    except ValueError:
        return False
    return False


def check_no_ssh(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """No remote login: no key pair on instances and no ingress to port 22 (SSH) or 3389 (RDP)
    (CKV_AWS_24, 25, 260, 277) except from CIDRs in config ``allowedSshCidrs``.

    Opt-out: ``ssh_access``.
    """
    if "ssh_access" in exempt(props, ctx):
        return []
    out = check_no_ssh_key(resource_type, props)
    allowed = [str(c) for c in as_list(config_value(ctx, "allowedSshCidrs", []))]
    for rule in ingress_rules(resource_type, props):
        for port, what in REMOTE_LOGIN_PORTS.items():
            if rule.unknown or not rule.covers(port):
                continue
            sources = [c for c in rule.cidrs if not _within(c, allowed)]
            if sources:
                out.append(f"{rule.where} opens {what} ({rule.describe()}) to {', '.join(sources)}; remove the rule "
                           "(replace the server instead of logging in), or list a VPN range in allowedSshCidrs")
            elif rule.has_other_source and not rule.cidrs:
                out.append(f"{rule.where} opens {what} ({rule.describe()}) to another security group or "
                           "prefix list; remove the rule (replace the server instead of logging in)")
    return out


def check_no_open_ingress(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """No ingress from anywhere (0.0.0.0/0, ::/0) except to ``publicPorts`` (80 and 443 by
    default, for a public load balancer's group); instances take traffic from the LB's group.

    Opt-out: ``public_ingress``.
    """
    if "public_ingress" in exempt(props, ctx):
        return []
    public = {int(p) for p in as_list(config_value(ctx, "publicPorts", [80, 443]))
              if as_int(p) is not None}
    out = []
    # Judged on the union of the ranges each port range is open to (rules.open_to_internet): an open
    # range written as several smaller ones, in one rule or in several, counts like 0.0.0.0/0.
    by_ports: dict[tuple[Any, Any, Any], list[Ingress]] = {}
    for rule in ingress_rules(resource_type, props):
        if not rule.unknown:
            by_ports.setdefault((rule.protocol, rule.from_port, rule.to_port), []).append(rule)
    for group in by_ports.values():
        rule = group[0]
        opened = open_to_internet([c for r in group for c in r.cidrs])
        if opened and not rule.ports_within(public):
            where = ", ".join(r.where for r in group)
            out.append(f"{where} allows {rule.describe()} from {opened}; only ports "
                       f"{sorted(public)} may be public (use the load balancer's security group as source)")
    return out


# --- groups ------------------------------------------------------------------------


def check_asg_launch_template(resource_type: str, props: Mapping[str, Any],
                              ctx: Context = NO_CONTEXT) -> list[str]:
    """Groups launch from a launch template (CKV_AWS_315) at a pinned version.

    ``$Latest``/``$Default`` (or no version) let a template edit change what a running group
    launches: an in-place change of a release. Pin the number (``lt.latest_version``).
    """
    if resource_type != AUTOSCALING_GROUP:
        return []
    out = []
    if props.get("launchConfiguration") is not None and not is_unknown(props.get("launchConfiguration")):
        out.append("uses a launch configuration; use a launch template (launch configurations are "
                   "deprecated and cannot be versioned)")
    spec = props.get("launchTemplate")
    where = "launchTemplate"
    if spec is None:
        spec = get(props, "mixedInstancesPolicy", "launchTemplate", "launchTemplateSpecification")
        where = "mixedInstancesPolicy.launchTemplate.launchTemplateSpecification"
    if is_unknown(spec):
        return out
    if spec is None:
        if not out:
            out.append("has no launch template; set launchTemplate with id and a pinned version")
        return out
    version = get(spec, "version")
    if is_unknown(version):
        return out
    if version is None or str(version) in ("$Latest", "$Default"):
        shown = "not set ($Default)" if version is None else repr(version)
        out.append(f"{where}.version is {shown}; pin the template version (e.g. the template's "
                   "latest_version output) so a template change creates a new group")
    return out


def check_asg_elb_health_check(resource_type: str, props: Mapping[str, Any],
                               ctx: Context = NO_CONTEXT) -> list[str]:
    """Groups use ELB health checks (CKV2_AWS_15); a group without a load balancer loses nothing."""
    if resource_type != AUTOSCALING_GROUP:
        return []
    check_type = props.get("healthCheckType")
    if is_unknown(check_type) or check_type == "ELB":
        return []
    shown = "not set (EC2)" if check_type is None else repr(check_type)
    return [f"healthCheckType is {shown}; use ELB so an instance that stops serving traffic is replaced "
            "(EC2 checks only see a stopped instance)"]


def check_release_tag_propagation(resource_type: str, props: Mapping[str, Any],
                                  ctx: Context = NO_CONTEXT) -> list[str]:
    """What a group or template launches carries the release tag too (CKV_AWS_153)."""
    if resource_type == AUTOSCALING_GROUP:
        for _, tag in iter_dicts(props.get("tags")):
            if tag.get("key") == RELEASE_KEY:
                if is_unknown(tag.get("propagateAtLaunch")) or truthy(tag.get("propagateAtLaunch")):
                    return []
                return [f"tag {RELEASE_KEY} has propagateAtLaunch false (instances would not say "
                        "which release they belong to); set propagateAtLaunch: true"]
        if is_unknown(props.get("tags")):
            return []
        return [f"no {RELEASE_KEY} tag (with propagateAtLaunch true) for the instances it launches; add it to "
                "the group's tags with propagateAtLaunch: true"]
    if resource_type == LAUNCH_TEMPLATE:
        specs = props.get("tagSpecifications")
        if is_unknown(specs):
            return []
        tagged = {str(s.get("resourceType")): tags_map(s.get("tags")) for _, s in iter_dicts(specs)}
        out = []
        for kind in ("instance", "volume"):
            value = tagged.get(kind, {}).get(RELEASE_KEY)
            if not is_unknown(value) and not valid_release(value):
                out.append(f"tagSpecifications has no {kind} entry tagging {RELEASE_KEY} with the "
                           "release id (launched resources would not say which release they belong to); add a "
                           f"tagSpecifications entry for {kind} with that tag")
        return out
    if resource_type == INSTANCE:
        volume_tags = props.get("volumeTags")
        root_tags = get(props, "rootBlockDevice", "tags")
        if is_unknown(volume_tags) or is_unknown(root_tags):
            return []
        value = tags_map(volume_tags).get(RELEASE_KEY, tags_map(root_tags).get(RELEASE_KEY))
        if is_unknown(value) or valid_release(value):
            return []
        return [f"its volumes are not tagged {RELEASE_KEY}; set volumeTags (or rootBlockDevice.tags)"]
    return []


def check_no_mutable_instance(resource_type: str, props: Mapping[str, Any],
                              ctx: Context = NO_CONTEXT) -> list[str]:
    """A standalone instance whose user data changes must be replaced, not edited in place.

    pulumi-aws updates ``user_data`` of a running instance by stopping and starting it
    unless ``user_data_replace_on_change`` is true; ``ignore_changes`` on user data hides
    the change altogether. Either way the running server no longer matches its release.
    """
    if resource_type != INSTANCE:
        return []
    has_user_data = any(props.get(k) not in (None, "") for k in ("userData", "userDataBase64"))
    out = []
    ignored = [k for k in ctx.ignore_changes if k.split(".")[0] in ("userData", "userDataBase64")]
    if ignored:
        out.append(f"ignore_changes on {', '.join(ignored)} hides user data changes; drop it and let a "
                   "change replace the instance")
    replace = props.get("userDataReplaceOnChange")
    if has_user_data and not is_unknown(replace) and not truthy(replace):
        shown = "false" if falsy(replace) else "not set (false)"
        out.append(f"userDataReplaceOnChange is {shown}: a user data change would stop, edit and restart "
                   "this instance in place; set user_data_replace_on_change=True, or better run it in "
                   "an auto scaling group from a launch template")
    return out


def check_opt_out_reason(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """Every ``immutable.dev/opt-out/<name>`` tag holds a real reason (the components' rule)."""
    if not resource_type.startswith("aws:"):
        return []
    return [f"tag {record.label!r} opts out of {record.name} but {record.problem}, so it lifts nothing; as the "
            f"tag's value, {REASON_FIX}"
            for record in opt_outs(tags_map(props.get("tags"))) if not record.valid]


def _user_data_text(props: Mapping[str, Any]) -> str | None:
    """User data as text: launch templates and ``userDataBase64`` carry it base64-encoded."""
    for key in ("userData", "userDataBase64"):
        value = props.get(key)
        if not isinstance(value, str) or not value:
            continue
        try:
            return base64.b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return value  # plain text (aws.ec2.Instance takes it as written)
    return None


def check_no_plaintext_secret(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """No credential in user data (readable by anything on the instance and by anyone with
    ec2:DescribeInstanceAttribute), by the components' rule ``immutable_infra.rules.credential_kind``."""
    if not resource_type.startswith("aws:"):
        return []
    out = [f"tags[{key!r}] holds {kind} in clear (tags are readable by anyone who may list the resource); remove it "
           "and keep the secret in Secrets Manager"
           for key, value in tags_map(props.get("tags")).items()
           if isinstance(value, str) and (kind := credential_kind(value))]
    if resource_type not in (LAUNCH_TEMPLATE, INSTANCE, LAUNCH_CONFIGURATION):
        return out
    text = _user_data_text(props)
    kind = credential_kind(text) if text else None
    if not kind:
        return out
    return [*out, f"user data holds {kind} in clear; fetch secrets at boot from Secrets Manager or SSM Parameter "
            "Store with the instance profile instead"]


# --- resources other than the instance that make something public (issue 31) -------------------

EIP = "aws:ec2/eip:Eip"
EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
SUBNET = "aws:ec2/subnet:Subnet"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_ACL_TYPES = frozenset({"aws:s3/bucketAclV2:BucketAclV2", "aws:s3/bucketAcl:BucketAcl", "aws:s3/bucket:Bucket",
                              "aws:s3/bucketV2:BucketV2"})
AMI_LAUNCH_PERMISSION = "aws:ec2/amiLaunchPermission:AmiLaunchPermission"
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
BLOCK_SETTINGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _public_statements(policy: Any) -> list[str]:
    """The Sids (or indexes) of Allow statements for every principal without a condition."""
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return []
    statements = get(policy, "Statement")
    statements = [statements] if isinstance(statements, Mapping) else as_list(statements)
    out = []
    for index, statement in enumerate(statements):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow" or statement.get("Condition"):
            continue
        principal = statement.get("Principal")
        everyone = principal == "*" or (isinstance(principal, Mapping) and "*" in (
            *as_list(principal.get("AWS")), principal.get("AWS")))
        if everyone:
            out.append(str(statement.get("Sid") or index))
    return out


def check_no_public_exposure(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """Nothing is made public by a resource other than the instance: an Elastic IP on an instance
    or interface, a subnet that maps public IPs on launch, a bucket policy or ACL for everyone, a
    public-access block switched off, an AMI everyone may launch. Opt-out ``public_ip`` (tags of
    the Elastic IP or subnet)."""
    if "public_ip" in exempt(props, ctx):
        return []
    if resource_type == EIP and any(props.get(k) not in (None, "") for k in ("instance", "networkInterface")):
        return ["an Elastic IP on an instance or network interface gives it a public address, bypassing the load "
                "balancer; remove it (traffic comes through the load balancer)"]
    if resource_type == EIP_ASSOCIATION:
        return ["an Elastic IP association gives an instance or network interface a public address; remove it "
                "(traffic comes through the load balancer)"]
    if resource_type == SUBNET and truthy(props.get("mapPublicIpOnLaunch")):
        return ["mapPublicIpOnLaunch is true: every instance launched in this subnet gets a public address, "
                "whatever its launch template says; set map_public_ip_on_launch=False"]
    if resource_type == BUCKET_POLICY:
        public = _public_statements(props.get("policy"))
        if public:
            return [f"policy statement(s) {public} allow Principal '*' without a condition: anyone on the internet; "
                    "list the principals (roles, accounts) that need access"]
    if resource_type == PUBLIC_ACCESS_BLOCK:
        off = [k for k in BLOCK_SETTINGS if not is_unknown(props.get(k)) and not truthy(props.get(k))]
        if off:
            return [f"{', '.join(off)} not true: the bucket may be made public by a policy or ACL; set all four "
                    "to true"]
    if resource_type in BUCKET_ACL_TYPES:
        acl = props.get("acl")
        if isinstance(acl, str) and acl in PUBLIC_ACLS:
            return [f"acl is {acl!r}: the objects are readable by everyone; set acl 'private' (and a "
                    "BucketPublicAccessBlock)"]
    if resource_type == AMI_LAUNCH_PERMISSION and props.get("group") == "all":
        return ["group 'all' lets every AWS account launch this image (and read what it holds); remove the permission "
                "or name an account_id"]
    return []
