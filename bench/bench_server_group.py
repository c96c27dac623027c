"""ServerGroup (AWS) vs the same AWS resources written by hand, under Pulumi mocks.

    .venv/bin/python -m bench.bench_server_group

Each of the N groups is mid-cutover: an active release plus one kept release, behind its
own ALB (about 22 resources a group). The raw variant registers the same resources with
the same inputs and the same cutover ``depends_on``, with release ids and user data
computed up front as a hand-written program would have them as literals: no component
wrapper, no validation, no hashing. The ratio printed is component time / raw time.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pulumi
from immutable_infra.aws import ServerGroup, ServerGroupSpec
from immutable_infra.aws.sdk import aws

from .harness import compare

VPC = "vpc-0123456789abcdef0"
SUBNETS = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
LB_SUBNETS = ["subnet-0cccccccccccccccc", "subnet-0dddddddddddddddd"]
CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef"
WIRING: dict[str, Any] = {"vpc_id": VPC, "subnet_ids": SUBNETS, "load_balancer_subnet_ids": LB_SUBNETS,
                          "certificate_arn": CERT}
METRICS = ["GroupDesiredCapacity", "GroupInServiceInstances", "GroupPendingInstances",
           "GroupTerminatingInstances", "GroupTotalInstances"]


def spec_dict(i: int, ami: str) -> dict[str, Any]:
    return {
        "app": f"app{i}", "env": "prod", "ami_id": ami, "instance_types": ["t3.micro"],
        "user_data": f"#!/bin/bash\nsystemctl start app{i}\n", "iam_instance_profile": f"app{i}-prod",
        "load_balancer": {"allowed_cidrs": ["10.0.0.0/8"]},
        "scaling": {"min_size": 2, "max_size": 4, "desired_capacity": 2},
    }


def ami(i: int, generation: int) -> str:
    return f"ami-{generation:01x}{i:016x}"


def component(n: int) -> Callable[[], None]:
    pairs = [(spec_dict(i, ami(i, 2)), spec_dict(i, ami(i, 1))) for i in range(n)]

    def program() -> None:
        for i, (active, previous) in enumerate(pairs):
            ServerGroup(f"app{i}", {"spec": active, "previous": [previous], **WIRING})
    return program


def raw(n: int) -> Callable[[], None]:
    """The same resources as literals: what a careful engineer would write by hand."""
    literals = []
    for i in range(n):
        active = ServerGroupSpec.model_validate(spec_dict(i, ami(i, 2)))
        kept = ServerGroupSpec.model_validate(spec_dict(i, ami(i, 1)))
        user_data = base64.b64encode(f"#!/bin/bash\nsystemctl start app{i}\n".encode()).decode()
        literals.append((i, [(active.release, active.ami_id, True), (kept.release, kept.ami_id, False)], user_data))

    def program() -> None:
        for i, releases, user_data in literals:
            _raw_group(i, releases, user_data)
    return program


def _raw_group(i: int, releases: list[tuple[str, str, bool]], user_data: str) -> None:
    name, base = f"app{i}", f"app{i}-prod"
    active_release = releases[0][0]
    shared = {"immutable.dev/app": name, "immutable.dev/env": "prod",
              "immutable.dev/managed-by": "immutable-infra", "immutable.dev/active-release": active_release}
    lb_sg = aws.ec2.SecurityGroup(f"{name}-lb-sg", name=f"{base}-lb", description=f"Load balancer of {base}",
                                  vpc_id=VPC, revoke_rules_on_delete=True, tags=shared)
    for port in (443, 80):
        aws.vpc.SecurityGroupIngressRule(f"{name}-lb-ingress-{port}-0", security_group_id=lb_sg.id, ip_protocol="tcp",
                                         from_port=port, to_port=port, cidr_ipv4="10.0.0.0/8",
                                         description=f"Clients to the listener on {port}", tags=shared)
    alb = aws.lb.LoadBalancer(f"{name}-alb", name=base, load_balancer_type="application", internal=True,
                              security_groups=[lb_sg.id], subnets=LB_SUBNETS, drop_invalid_header_fields=True,
                              enable_deletion_protection=False, idle_timeout=60, tags=shared,
                              opts=pulumi.ResourceOptions(delete_before_replace=True))
    tg = aws.lb.TargetGroup(f"{name}-tg", name=f"{base}-8080", port=8080, protocol="HTTP", target_type="instance",
                            vpc_id=VPC, deregistration_delay=30, health_check={
                                "enabled": True, "path": "/health", "port": "traffic-port", "protocol": "HTTP",
                                "matcher": "200-399", "interval": 15, "timeout": 5, "healthy_threshold": 3,
                                "unhealthy_threshold": 3}, tags=shared)
    https = aws.lb.Listener(f"{name}-https", load_balancer_arn=alb.arn, port=443, protocol="HTTPS",
                            ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06", certificate_arn=CERT,
                            default_actions=[{"type": "forward", "target_group_arn": tg.arn}], tags=shared)
    http = aws.lb.Listener(f"{name}-http", load_balancer_arn=alb.arn, port=80, protocol="HTTP",
                           default_actions=[{"type": "redirect", "redirect": {
                               "port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"}}], tags=shared)
    active_group: aws.autoscaling.Group | None = None
    for release, image, active in releases:
        tags = {**shared, "immutable.dev/release": release}
        del tags["immutable.dev/active-release"]
        group = f"{base}-{release}"
        sg = aws.ec2.SecurityGroup(f"{name}-sg-{release}", name=group, description=f"Instances of {base}",
                                   vpc_id=VPC, revoke_rules_on_delete=True, tags=tags)
        rules = [
            aws.vpc.SecurityGroupIngressRule(f"{name}-ingress-{release}", security_group_id=sg.id,
                                             referenced_security_group_id=lb_sg.id, ip_protocol="tcp",
                                             from_port=8080, to_port=8080, description="Load balancer to the app port",
                                             tags=tags),
            aws.vpc.SecurityGroupEgressRule(f"{name}-lb-egress-{release}", security_group_id=lb_sg.id,
                                            referenced_security_group_id=sg.id, ip_protocol="tcp", from_port=8080,
                                            to_port=8080, description="Load balancer to the instances", tags=tags),
            aws.vpc.SecurityGroupEgressRule(f"{name}-egress-{release}-0", security_group_id=sg.id, ip_protocol="tcp",
                                            from_port=443, to_port=443, cidr_ipv4="0.0.0.0/0",
                                            description="HTTPS to AWS APIs", tags=tags),
        ]
        instance_tags = {**tags, "Name": group}
        lt = aws.ec2.LaunchTemplate(
            f"{name}-lt-{release}", name=group, description=f"{base} release {release} ({image})", image_id=image,
            instance_type="t3.micro", user_data=user_data, iam_instance_profile={"name": f"{base}"},
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1,
                              "instance_metadata_tags": "disabled"},
            block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {
                "volume_size": 20, "volume_type": "gp3", "encrypted": "true", "delete_on_termination": "true"}}],
            network_interfaces=[{"device_index": 0, "associate_public_ip_address": "false",
                                 "security_groups": [sg.id], "delete_on_termination": "true"}],
            monitoring={"enabled": True},
            tag_specifications=[{"resource_type": kind, "tags": instance_tags}
                                for kind in ("instance", "volume", "network-interface")],
            tags=tags)
        deps: list[pulumi.Resource] = [https, http, *rules] if active_group is None else [*rules, active_group]
        asg = aws.autoscaling.Group(
            f"{name}-asg-{release}", name=group, vpc_zone_identifiers=SUBNETS,
            min_size=2 if active else 0, max_size=4 if active else 0, desired_capacity=2 if active else 0,
            target_group_arns=[tg.arn] if active else [], health_check_type="ELB", health_check_grace_period=300,
            wait_for_elb_capacity=2 if active else None, wait_for_capacity_timeout="15m",
            enabled_metrics=METRICS, metrics_granularity="1Minute",
            instance_refresh={"strategy": "Rolling", "preferences": {
                "min_healthy_percentage": 90, "max_healthy_percentage": 100, "instance_warmup": "300",
                "auto_rollback": True, "skip_matching": False, "scale_in_protected_instances": "Refresh",
                "standby_instances": "Terminate"}},
            tags=[{"key": k, "value": v, "propagate_at_launch": True} for k, v in sorted(instance_tags.items())],
            launch_template={"id": lt.id, "version": lt.latest_version.apply(str)},
            opts=pulumi.ResourceOptions(depends_on=deps))
        if active:
            active_group = asg
    assert active_group is not None
    common: dict[str, Any] = {"period": 60, "evaluation_periods": 3, "alarm_actions": [], "ok_actions": [],
                              "tags": shared}
    aws.cloudwatch.MetricAlarm(
        f"{name}-alarm-in-service", name=f"{base}-in-service",
        alarm_description=f"{base}: fewer than 2 in-service instances in release {active_release}",
        namespace="AWS/AutoScaling", metric_name="GroupInServiceInstances",
        dimensions={"AutoScalingGroupName": active_group.name}, statistic="Minimum",
        comparison_operator="LessThanThreshold", threshold=2.0, treat_missing_data="breaching", **common)
    aws.cloudwatch.MetricAlarm(
        f"{name}-alarm-unhealthy-hosts", name=f"{base}-unhealthy-hosts",
        alarm_description=f"{base}: unhealthy targets behind the load balancer (release {active_release})",
        namespace="AWS/ApplicationELB", metric_name="UnHealthyHostCount",
        dimensions={"TargetGroup": tg.arn_suffix, "LoadBalancer": alb.arn_suffix}, statistic="Maximum",
        comparison_operator="GreaterThanThreshold", threshold=0.0, treat_missing_data="notBreaching", **common)


def main() -> dict[int, float]:
    return compare("ServerGroup (AWS, active + 1 kept release) vs raw resources", component, raw,
                   sizes=(50, 200), rounds=3)


if __name__ == "__main__":
    main()
