"""ServerGroup under Pulumi mocks: the whole resource graph, the cutover order, the secure
defaults as exact properties, the two strategies, and the outputs."""

from __future__ import annotations

import base64
from typing import Any

import pulumi
import pytest
from immutable_infra.aws import ServerGroup, ServerGroupSpec

from ..aws_mocks import (
    ALARM,
    AMI_A,
    AMI_B,
    AMI_C,
    AMI_D,
    ASG,
    CERT,
    COMPONENT,
    EGRESS_RULE,
    INGRESS_RULE,
    LAUNCH_TEMPLATE,
    LB_SG,
    LB_SUBNETS,
    LISTENER,
    LOAD_BALANCER,
    SECURITY_GROUP,
    SUBNETS,
    TARGET_GROUP,
    TG_ARN,
    TOPIC,
    VPC,
    WIRING,
    Program,
    run,
    server_group_spec,
)

OWN_TG_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-prod-8080/0123456789abcdef"
OUTPUTS = ("release", "active_release", "active_group_name", "active_ami_id", "kept_releases", "kept_groups", "images",
           "endpoint", "load_balancer_arn", "load_balancer_dns_name", "load_balancer_zone_id",
           "load_balancer_security_group_id", "instance_security_group_id", "target_group_arns", "opt_outs",
           "opt_out_reasons")


def rel(spec: dict[str, Any]) -> str:
    return ServerGroupSpec.model_validate(spec).release


def deploy(spec: dict[str, Any], history: list[dict[str, Any]] | None = None, **kwargs: Any) -> Program:
    args = {**WIRING, **kwargs}
    return run(lambda: ServerGroup("web", {"spec": spec, "previous": (history or [])[::-1], **args}), outputs=OUTPUTS)


def release_children(release: str) -> set[str]:
    return {f"web-sg-{release}", f"web-ingress-{release}", f"web-lb-egress-{release}",
            f"web-egress-{release}-0", f"web-lt-{release}", f"web-asg-{release}"}


SHARED = {"web", "web-lb-sg", "web-instances-sg", "web-lb-ingress-443-0", "web-lb-ingress-80-0", "web-alb", "web-tg",
          "web-https", "web-http", "web-alarm-in-service", "web-alarm-unhealthy-hosts"}


def group_inputs(program: Program, release: str) -> dict[str, Any]:
    return program.named(f"web-asg-{release}").inputs


# --- the resource graph ------------------------------------------------------------------


def test_one_release_registers_exactly_these_children() -> None:
    spec = server_group_spec()
    r = rel(spec)
    program = deploy(spec)

    assert program.names == SHARED | release_children(r)
    component = program.named("web")
    assert component.type == COMPONENT and not component.custom
    assert all(res.parent == component.urn for res in program.resources if res is not component)
    assert sorted(res.type for res in program.resources if res is not component) == sorted(
        [SECURITY_GROUP, SECURITY_GROUP, INGRESS_RULE, INGRESS_RULE, LOAD_BALANCER, TARGET_GROUP, LISTENER, LISTENER,
         ALARM, ALARM, SECURITY_GROUP, INGRESS_RULE, EGRESS_RULE, EGRESS_RULE, LAUNCH_TEMPLATE, ASG])


def test_release_owned_resources_are_named_app_env_release() -> None:
    spec = server_group_spec()
    r = rel(spec)
    program = deploy(spec)

    for child in (f"web-sg-{r}", f"web-lt-{r}", f"web-asg-{r}"):
        assert program.named(child).inputs["name"] == f"web-prod-{r}"
    assert program.named("web-alb").inputs["name"] == "web-prod"
    assert program.named("web-tg").inputs["name"] == "web-prod-8080"


def test_no_replacement_option_is_needed_except_to_free_the_alb_name() -> None:
    program = deploy(server_group_spec())

    assert [r.name for r in program.resources if r.delete_before_replace] == ["web-alb"]
    assert all(not r.replace_on_changes for r in program.resources)
    # The one ignore: a release's template keeps the network interfaces it was created with.
    assert {r.name: r.ignore_changes for r in program.resources if r.ignore_changes} == {
        f"web-lt-{rel(server_group_spec())}": ["networkInterfaces"]}


# --- secure defaults, as exact properties ----------------------------------------------------


def test_launch_template_carries_the_secure_defaults() -> None:
    spec = server_group_spec()
    r = rel(spec)
    program = deploy(spec)
    lt = program.named(f"web-lt-{r}").inputs

    assert lt["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                     "httpPutResponseHopLimit": 1, "instanceMetadataTags": "disabled"}
    assert lt["blockDeviceMappings"] == [{"deviceName": "/dev/xvda", "ebs": {
        "volumeSize": 20, "volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true"}}]
    assert lt["networkInterfaces"] == [{"deviceIndex": 0, "associatePublicIpAddress": "false",
                                        "securityGroups": [f"web-sg-{r}-id", "web-instances-sg-id"],
                                         "deleteOnTermination": "true"}]
    assert "keyName" not in lt
    assert "vpcSecurityGroupIds" not in lt
    assert lt["imageId"] == AMI_A and lt["instanceType"] == "t3.micro"
    assert lt["iamInstanceProfile"] == {"name": "web-prod"}
    assert lt["monitoring"] == {"enabled": True}
    assert base64.b64decode(lt["userData"]).decode() == spec["user_data"]
    expected_tags = {"Name": f"web-prod-{r}", "immutable.dev/app": "web", "immutable.dev/env": "prod",
                     "immutable.dev/managed-by": "immutable-infra", "immutable.dev/release": r}
    assert lt["tagSpecifications"] == [{"resourceType": kind, "tags": expected_tags}
                                       for kind in ("instance", "volume", "network-interface")]


def test_instances_accept_traffic_only_from_the_load_balancer_security_group() -> None:
    spec = server_group_spec()
    r = rel(spec)
    program = deploy(spec)
    sg_id = f"web-sg-{r}-id"

    instance_ingress = [x.inputs for x in program.of_type(INGRESS_RULE) if x.inputs["securityGroupId"] == sg_id]
    assert instance_ingress == [{
        "securityGroupId": sg_id, "referencedSecurityGroupId": "web-lb-sg-id", "ipProtocol": "tcp",
        "fromPort": 8080, "toPort": 8080, "description": "Load balancer to the app port",
        "tags": program.named(f"web-sg-{r}").inputs["tags"]}]
    assert program.named(f"web-lb-egress-{r}").inputs | {"tags": None} == {
        "securityGroupId": "web-lb-sg-id", "referencedSecurityGroupId": sg_id, "ipProtocol": "tcp",
        "fromPort": 8080, "toPort": 8080, "description": "Load balancer to the instances", "tags": None}
    egress = [x.inputs for x in program.of_type(EGRESS_RULE) if x.inputs["securityGroupId"] == sg_id]
    assert [(e["cidrIpv4"], e["ipProtocol"], e["fromPort"], e["toPort"]) for e in egress] == [
        ("0.0.0.0/0", "tcp", 443, 443)]
    # No inline rules anywhere, no port 22, no ingress from anywhere to the instances.
    assert all("ingress" not in sg.inputs and "egress" not in sg.inputs for sg in program.of_type(SECURITY_GROUP))
    assert all(not x.inputs.get("fromPort", 0) <= 22 <= x.inputs.get("toPort", -1)
               for x in program.of_type(INGRESS_RULE))
    lb_ingress = [x.inputs for x in program.of_type(INGRESS_RULE) if x.inputs["securityGroupId"] == "web-lb-sg-id"]
    assert sorted((x["fromPort"], x["cidrIpv4"]) for x in lb_ingress) == [(80, "10.0.0.0/8"), (443, "10.0.0.0/8")]


def test_group_is_health_gated_on_elb_checks_and_tags_instances_with_the_release() -> None:
    spec = server_group_spec()
    r = rel(spec)
    program = deploy(spec)
    asg = group_inputs(program, r)

    assert asg["healthCheckType"] == "ELB"
    assert asg["healthCheckGracePeriod"] == 300
    assert asg["waitForElbCapacity"] == 3
    assert asg["waitForCapacityTimeout"] == "15m"
    assert (asg["minSize"], asg["maxSize"], asg["desiredCapacity"]) == (2, 4, 3)
    assert asg["targetGroupArns"] == [OWN_TG_ARN]
    assert asg["vpcZoneIdentifiers"] == SUBNETS
    assert asg["launchTemplate"] == {"id": f"web-lt-{r}-id", "version": "1"}
    assert "launchConfiguration" not in asg  # CKV_AWS_315: from a launch template
    assert {t["key"]: (t["value"], t["propagateAtLaunch"]) for t in asg["tags"]} == {
        "Name": (f"web-prod-{r}", True), "immutable.dev/app": ("web", True), "immutable.dev/env": ("prod", True),
        "immutable.dev/managed-by": ("immutable-infra", True), "immutable.dev/release": (r, True)}


def test_load_balancer_is_internal_https_only_and_drops_invalid_headers() -> None:
    program = deploy(server_group_spec())
    alb = program.named("web-alb").inputs
    https = program.named("web-https").inputs
    http = program.named("web-http").inputs
    tg = program.named("web-tg").inputs

    assert alb["internal"] is True and alb["loadBalancerType"] == "application"
    assert alb["dropInvalidHeaderFields"] is True
    assert alb["securityGroups"] == ["web-lb-sg-id"] and alb["subnets"] == LB_SUBNETS
    assert (https["port"], https["protocol"], https["sslPolicy"], https["certificateArn"]) == (
        443, "HTTPS", "ELBSecurityPolicy-TLS13-1-2-2021-06", CERT)
    assert https["defaultActions"] == [{"type": "forward", "targetGroupArn": OWN_TG_ARN}]
    assert http["defaultActions"] == [{"type": "redirect", "redirect": {
        "port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}}]
    assert (tg["port"], tg["protocol"], tg["targetType"], tg["vpcId"]) == (8080, "HTTP", "instance", VPC)
    assert tg["healthCheck"] == {"enabled": True, "path": "/health", "port": "traffic-port", "protocol": "HTTP",
                                 "matcher": "200-399", "interval": 15, "timeout": 5, "healthyThreshold": 3,
                                 "unhealthyThreshold": 3}


def test_shared_resources_carry_the_active_release_tag() -> None:
    spec = server_group_spec()
    r = rel(spec)
    program = deploy(spec)

    for name in ("web-lb-sg", "web-alb", "web-tg", "web-https", "web-alarm-in-service"):
        tags = program.named(name).inputs["tags"]
        assert tags["immutable.dev/active-release"] == r and "immutable.dev/release" not in tags
    for res in program.resources:
        if res.type != COMPONENT and res.type != ASG:
            assert res.inputs["tags"]["immutable.dev/app"] == "web", res.name


# --- cutover, keep, rollback -----------------------------------------------------------------------


def test_new_group_is_created_beside_the_old_and_the_old_leaves_only_after_it_is_healthy() -> None:
    old, new = server_group_spec(), server_group_spec(ami_id=AMI_B)
    r_old, r_new = rel(old), rel(new)
    program = deploy(new, history=[old])

    assert program.names == SHARED | release_children(r_old) | release_children(r_new)
    active, kept = group_inputs(program, r_new), group_inputs(program, r_old)
    # The new group waits for healthy capacity behind the load balancer...
    assert active["waitForElbCapacity"] == 3 and len(active["targetGroupArns"]) == 1
    active_deps = program.named(f"web-asg-{r_new}").dependencies
    assert {program.urn("web-https"), program.urn("web-http"), program.urn(f"web-ingress-{r_new}"),
            program.urn(f"web-lb-egress-{r_new}")} <= set(active_deps)
    # ...and only then is the old one detached and scaled to zero (kept for rollback).
    assert program.urn(f"web-asg-{r_new}") in program.named(f"web-asg-{r_old}").dependencies
    assert (kept["minSize"], kept["maxSize"], kept["desiredCapacity"]) == (0, 0, 0)
    assert kept["targetGroupArns"] == []
    assert "waitForElbCapacity" not in kept
    # The kept release runs its own image: rollback builds nothing.
    assert program.named(f"web-lt-{r_old}").inputs["imageId"] == AMI_A
    assert program.named(f"web-lt-{r_new}").inputs["imageId"] == AMI_B


def test_without_keep_previous_the_old_group_is_left_to_the_engine_to_delete_last() -> None:
    old, new = server_group_spec(), server_group_spec(ami_id=AMI_B, keep_previous=0)
    program = deploy(new, history=[old])

    # Not registered any more: Pulumi deletes it after every create and update succeeded.
    assert program.names == SHARED | release_children(rel(new))
    assert program.outputs["kept_releases"] == []


def test_keep_previous_keeps_the_most_recent_releases_newest_first() -> None:
    a, b, c, d = (server_group_spec(ami_id=ami, keep_previous=2) for ami in (AMI_A, AMI_B, AMI_C, AMI_D))
    program = deploy(d, history=[a, b, c])

    assert program.names == SHARED | release_children(rel(d)) | release_children(rel(c)) | release_children(rel(b))
    assert program.outputs["kept_releases"] == [rel(c), rel(b)]
    assert program.outputs["kept_groups"] == [
        {"release": rel(c), "ami_id": AMI_C, "group_name": f"web-prod-{rel(c)}"},
        {"release": rel(b), "ami_id": AMI_B, "group_name": f"web-prod-{rel(b)}"},
    ]
    assert program.outputs["images"] == {rel(d): AMI_D, rel(c): AMI_C, rel(b): AMI_B}
    active_urn = program.urn(f"web-asg-{rel(d)}")
    assert all(active_urn in program.named(f"web-asg-{rel(x)}").dependencies for x in (b, c))


def test_rollback_points_at_a_kept_release_and_builds_nothing() -> None:
    a, b = server_group_spec(), server_group_spec(ami_id=AMI_B)
    deployed = deploy(b, history=[a])
    rolled_back = deploy(a, history=[a, b])  # the ledger is unchanged; the pointer moved to `a`

    assert rolled_back.names == deployed.names
    assert rolled_back.outputs["active_release"] == rel(a)
    assert rolled_back.outputs["kept_releases"] == [rel(b)]
    assert rolled_back.outputs["kept_groups"] == [
        {"release": rel(b), "ami_id": AMI_B, "group_name": f"web-prod-{rel(b)}"}]
    # Every release-owned resource keeps its inputs (nothing is rebuilt); only the groups'
    # capacity, load balancer membership and gate swap. Shared ones follow the active release.
    owned = (release_children(rel(a)) | release_children(rel(b))) - {f"web-asg-{rel(a)}", f"web-asg-{rel(b)}"}
    for name in owned:
        assert deployed.named(name).inputs == rolled_back.named(name).inputs, name
    back = group_inputs(rolled_back, rel(a))
    assert (back["desiredCapacity"], back["waitForElbCapacity"], len(back["targetGroupArns"])) == (3, 3, 1)
    assert rolled_back.urn(f"web-asg-{rel(a)}") in rolled_back.named(f"web-asg-{rel(b)}").dependencies


# --- what is a release -------------------------------------------------------------------------------


def test_a_scale_only_change_replaces_nothing() -> None:
    before = server_group_spec()
    after = server_group_spec(scaling={"min_size": 4, "max_size": 10, "desired_capacity": 6})
    assert rel(before) == rel(after)
    p1, p2 = deploy(before), deploy(after)

    assert p1.names == p2.names
    r = rel(before)
    for name in p1.names - {"web", f"web-asg-{r}", "web-alarm-in-service"}:
        assert p1.named(name).inputs == p2.named(name).inputs, name
    changed = {k for k in group_inputs(p1, r) if group_inputs(p1, r)[k] != group_inputs(p2, r).get(k)}
    assert changed == {"minSize", "maxSize", "desiredCapacity", "waitForElbCapacity"}


@pytest.mark.parametrize("change", [
    {"ami_id": AMI_B},
    {"instance_types": ["t3.small"]},
    {"user_data": "#!/bin/bash\nsystemctl start web --debug\n"},
    {"iam_instance_profile": "web-prod-v2"},
    {"volumes": [{"size_gib": 40}]},
    {"security": {"metadata_hop_limit": 2, "opt_outs": {"imds_hop_limit": {"reason": "containers need IMDS"}}}},
    {"security": {"extra_ingress": [{"cidr": "10.1.0.0/16", "port": 9100}]}},
    {"security": {"egress": [{"cidr": "10.0.0.0/8", "port": 5432}]}},
    {"state": {"efs": [{"file_system_id": "fs-0123456789abcdef0", "mount_path": "/srv/shared"}]}},
    {"tags": {"team": "payments"}},
], ids=lambda c: next(iter(c)))
def test_a_change_to_what_runs_is_a_new_release_with_new_names(change: dict[str, Any]) -> None:
    before, after = server_group_spec(), server_group_spec(**change)
    r1, r2 = rel(before), rel(after)
    assert r1 != r2
    program = deploy(after, history=[before])

    for role in ("sg", "lt", "asg"):
        assert program.named(f"web-{role}-{r2}").inputs["name"] == f"web-prod-{r2}"
        assert program.named(f"web-{role}-{r1}").inputs["name"] == f"web-prod-{r1}"


def test_a_port_change_is_a_new_release_behind_a_new_target_group() -> None:
    before, after = server_group_spec(), server_group_spec(port=9090, keep_previous=0)
    program = deploy(after, history=[before])

    assert rel(before) != rel(after)
    assert program.named("web-tg").inputs["name"] == "web-prod-9090"  # created before the old one is deleted
    assert program.named(f"web-ingress-{rel(after)}").inputs["fromPort"] == 9090
    assert not any(rel(before) in name for name in program.names)


@pytest.mark.parametrize("change", [
    {"health_check": {"path": "/ready"}},
    {"monitoring": {"alarm_actions": []}},
    {"load_balancer": {"allowed_cidrs": ["10.0.0.0/16"]}},
    {"keep_previous": 3},
    {"network": {"subnet_tier": "private"}},
], ids=lambda c: next(iter(c)))
def test_wiring_and_retention_changes_keep_the_release(change: dict[str, Any]) -> None:
    assert rel(server_group_spec()) == rel(server_group_spec(**change))


# --- instance-refresh -----------------------------------------------------------------------------------


def refresh_spec(**overrides: Any) -> dict[str, Any]:
    return server_group_spec(strategy="instance-refresh",
                             instance_refresh={"min_healthy_percentage": 50, "max_healthy_percentage": 150,
                                               "checkpoint_percentages": [50, 100], "checkpoint_delay_seconds": 600},
                             **overrides)


def test_instance_refresh_keeps_one_group_and_one_versioned_template() -> None:
    spec = refresh_spec()
    r = rel(spec)
    program = deploy(spec)

    assert program.names == (SHARED - {"web-instances-sg"}) | {"web-sg", "web-ingress", "web-lb-egress", "web-egress-0",
                                                               "web-lt", "web-asg"}
    lt, asg = program.named("web-lt").inputs, program.named("web-asg").inputs
    assert lt["name"] == asg["name"] == "web-prod"
    assert lt["updateDefaultVersion"] is True
    assert lt["tagSpecifications"][0]["tags"]["immutable.dev/release"] == r
    # Pinned to the template's latest version number: a new version changes the group, which
    # starts a refresh (auto-rollback needs a number, not $Latest/$Default).
    assert asg["launchTemplate"] == {"id": "web-lt-id", "version": "1"}
    assert asg["instanceRefresh"] == {"strategy": "Rolling", "preferences": {
        "minHealthyPercentage": 50, "maxHealthyPercentage": 150, "instanceWarmup": "300",
        "checkpointPercentages": [50, 100], "checkpointDelay": "600", "autoRollback": True,
        "skipMatching": False, "scaleInProtectedInstances": "Refresh", "standbyInstances": "Terminate"}}
    assert asg["healthCheckType"] == "ELB" and asg["waitForElbCapacity"] == 3
    assert program.outputs["active_group_name"] == "web-prod"
    assert program.outputs["kept_releases"] == []


def test_instance_refresh_release_change_is_a_new_template_version_and_a_refresh() -> None:
    p1, p2 = deploy(refresh_spec()), deploy(refresh_spec(ami_id=AMI_B))

    assert p1.names == p2.names  # same group, same template: a new version of it
    lt1, lt2 = p1.named("web-lt").inputs, p2.named("web-lt").inputs
    assert (lt1["imageId"], lt2["imageId"]) == (AMI_A, AMI_B)
    assert lt1["name"] == lt2["name"]
    assert p2.named("web-asg").inputs["instanceRefresh"]["preferences"]["autoRollback"] is True


def test_every_group_refreshes_on_a_template_change_so_no_fleet_is_left_mixed() -> None:
    program = deploy(server_group_spec(ami_id=AMI_B), history=[server_group_spec()])

    for group in program.of_type(ASG):
        prefs = group.inputs["instanceRefresh"]["preferences"]
        assert prefs["autoRollback"] is True
        assert (prefs["scaleInProtectedInstances"], prefs["standbyInstances"]) == ("Refresh", "Terminate")
        assert group.inputs["launchTemplate"]["version"] == "1"


# --- wiring --------------------------------------------------------------------------------------


def test_existing_target_groups_are_attached_and_their_lb_is_the_only_source() -> None:
    spec = server_group_spec(load_balancer=None, target_groups={"arns": [TG_ARN]})
    r = rel(spec)
    program = run(lambda: ServerGroup("web", {"spec": spec, "vpc_id": VPC, "subnet_ids": SUBNETS,
                                              "load_balancer_security_group_id": LB_SG}), outputs=OUTPUTS)

    assert program.names == {"web", "web-alarm-in-service", "web-instances-sg", f"web-sg-{r}", f"web-ingress-{r}",
                             f"web-egress-{r}-0", f"web-lt-{r}", f"web-asg-{r}"}
    assert group_inputs(program, r)["targetGroupArns"] == [TG_ARN]
    assert program.named(f"web-ingress-{r}").inputs["referencedSecurityGroupId"] == LB_SG
    assert program.outputs["load_balancer_dns_name"] is None
    assert program.outputs["target_group_arns"] == [TG_ARN]


def test_ids_known_only_after_deployment_are_pulumi_inputs() -> None:
    def build() -> ServerGroup:
        vpc = pulumi.Output.from_input(VPC).apply(lambda v: v)
        subnets = pulumi.Output.all(*SUBNETS).apply(list)
        return ServerGroup("web", {"spec": server_group_spec(), "vpc_id": vpc, "subnet_ids": subnets,
                                   "load_balancer_subnet_ids": LB_SUBNETS, "certificate_arn": pulumi.Output.from_input(CERT)})

    program = run(build, outputs=OUTPUTS)
    r = rel(server_group_spec())
    assert group_inputs(program, r)["vpcZoneIdentifiers"] == SUBNETS
    assert program.named(f"web-sg-{r}").inputs["vpcId"] == VPC
    assert program.named("web-https").inputs["certificateArn"] == CERT


def test_literal_ids_may_live_in_the_spec() -> None:
    spec = server_group_spec(network={"vpc_id": VPC, "subnet_ids": SUBNETS},
                             load_balancer={"allowed_cidrs": ["10.0.0.0/8"], "subnet_ids": LB_SUBNETS,
                                            "certificate_arn": CERT})
    program = run(lambda: ServerGroup("web", {"spec": spec}), outputs=OUTPUTS)

    assert group_inputs(program, rel(spec))["vpcZoneIdentifiers"] == SUBNETS
    assert program.named("web-alb").inputs["subnets"] == LB_SUBNETS


# --- options -----------------------------------------------------------------------------------


def test_opt_outs_are_applied_tagged_and_reported() -> None:
    spec = server_group_spec(
        security={"associate_public_ip": True, "metadata_hop_limit": 2,
                  "opt_outs": {"public_ip": {"reason": "legacy agent, ticket OPS-1"},
                               "imds_hop_limit": {"reason": "docker on the host needs IMDS (OPS-2)"},
                               "public_subnets": {"reason": "no NAT gateway in this VPC yet"}}},
        network={"subnet_tier": "public"})
    r = rel(spec)
    program = deploy(spec)
    lt = program.named(f"web-lt-{r}").inputs

    assert lt["networkInterfaces"][0]["associatePublicIpAddress"] == "true"
    assert lt["metadataOptions"]["httpPutResponseHopLimit"] == 2
    assert lt["metadataOptions"]["httpTokens"] == "required"
    # Tag values keep only the characters AWS allows.
    expected = {"immutable.dev/opt-out/imds_hop_limit": "docker on the host needs IMDS OPS-2",
                "immutable.dev/opt-out/public_ip": "legacy agent ticket OPS-1",
                "immutable.dev/opt-out/public_subnets": "no NAT gateway in this VPC yet"}
    assert expected.items() <= lt["tags"].items()
    assert expected.items() <= lt["tagSpecifications"][0]["tags"].items()
    assert expected.items() <= program.named("web-alb").inputs["tags"].items()
    assert {t["key"] for t in group_inputs(program, r)["tags"]} >= set(expected)
    assert program.outputs["opt_outs"] == ["imds_hop_limit", "public_ip", "public_subnets"]
    assert program.outputs["opt_out_reasons"] == {
        "public_ip": "legacy agent, ticket OPS-1", "imds_hop_limit": "docker on the host needs IMDS (OPS-2)",
        "public_subnets": "no NAT gateway in this VPC yet"}


def test_several_instance_types_make_a_mixed_instances_group() -> None:
    spec = server_group_spec(instance_types=["m7g.large", "m6g.large"])
    r = rel(spec)
    asg = group_inputs(deploy(spec), r)

    assert "launchTemplate" not in asg
    assert asg["mixedInstancesPolicy"] == {
        "launchTemplate": {
            "launchTemplateSpecification": {"launchTemplateId": f"web-lt-{r}-id", "version": "1"},
            "overrides": [{"instanceType": "m7g.large"}, {"instanceType": "m6g.large"}]},
        "instancesDistribution": {"onDemandAllocationStrategy": "prioritized",
                                  "onDemandPercentageAboveBaseCapacity": 100}}


def test_state_is_mounted_at_boot_before_the_users_script() -> None:
    spec = server_group_spec(state={"efs": [{"file_system_id": "fs-0123456789abcdef0", "mount_path": "/srv/shared",
                                             "access_point_id": "fsap-0123456789abcdef0",
                                             "security_group_id": "sg-0fedcba9876543210"}]})
    r = rel(spec)
    program = deploy(spec)
    user_data = base64.b64decode(program.named(f"web-lt-{r}").inputs["userData"]).decode()

    mount = user_data.index("fs-0123456789abcdef0:/ /srv/shared efs _netdev,tls,accesspoint=fsap-0123456789abcdef0")
    assert user_data.startswith("Content-Type: multipart/mixed")
    assert mount < user_data.index("systemctl start web")
    nfs = program.named(f"web-efs-egress-{r}-0").inputs
    assert (nfs["referencedSecurityGroupId"], nfs["fromPort"], nfs["toPort"]) == ("sg-0fedcba9876543210", 2049, 2049)


def test_alarms_watch_the_active_group_and_notify() -> None:
    old, new = server_group_spec(), server_group_spec(ami_id=AMI_B)
    program = deploy(new, history=[old])
    in_service = program.named("web-alarm-in-service").inputs
    unhealthy = program.named("web-alarm-unhealthy-hosts").inputs

    assert in_service["dimensions"] == {"AutoScalingGroupName": f"web-prod-{rel(new)}"}
    assert (in_service["metricName"], in_service["comparisonOperator"], in_service["threshold"]) == (
        "GroupInServiceInstances", "LessThanThreshold", 2)
    assert unhealthy["dimensions"] == {"TargetGroup": "targetgroup/web-prod-8080/0123456789abcdef",
                                       "LoadBalancer": "app/web-prod/0123456789abcdef"}
    assert in_service["alarmActions"] == unhealthy["okActions"] == [TOPIC]
    assert "GroupInServiceInstances" in group_inputs(program, rel(new))["enabledMetrics"]


def test_alarms_can_be_switched_off() -> None:
    program = deploy(server_group_spec(monitoring={"alarms": False}))
    assert program.of_type(ALARM) == []


def test_plain_http_listener_needs_its_opt_out_and_forwards() -> None:
    spec = server_group_spec(load_balancer={"allowed_cidrs": ["10.0.0.0/8"], "https": False},
                             security={"opt_outs": {"plain_http": {"reason": "internal only, TLS at the mesh"}}})
    program = run(lambda: ServerGroup("web", {"spec": spec, "vpc_id": VPC, "subnet_ids": SUBNETS,
                                              "load_balancer_subnet_ids": LB_SUBNETS}), outputs=OUTPUTS)

    assert [x.name for x in program.of_type(LISTENER)] == ["web-http"]
    assert program.named("web-http").inputs["defaultActions"][0]["type"] == "forward"
    assert program.outputs["opt_outs"] == ["plain_http"]
    assert program.outputs["opt_out_reasons"] == {"plain_http": "internal only, TLS at the mesh"}
    assert program.outputs["endpoint"] == "http://web-prod-1234567890.eu-west-1.elb.amazonaws.com"


# --- outputs -----------------------------------------------------------------------------------


def test_outputs_name_the_active_and_kept_releases_and_the_endpoint() -> None:
    old, new = server_group_spec(), server_group_spec(ami_id=AMI_B)
    program = deploy(new, history=[old])

    dns = "web-prod-1234567890.eu-west-1.elb.amazonaws.com"
    assert program.outputs == {
        "release": rel(new),
        "active_release": rel(new),
        "active_group_name": f"web-prod-{rel(new)}",
        "active_ami_id": AMI_B,
        "kept_releases": [rel(old)],
        "kept_groups": [{"release": rel(old), "ami_id": AMI_A, "group_name": f"web-prod-{rel(old)}"}],
        "images": {rel(new): AMI_B, rel(old): AMI_A},
        "endpoint": f"https://{dns}",
        "load_balancer_arn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web-prod/0123456789abcdef",
        "load_balancer_dns_name": dns,
        "load_balancer_zone_id": "Z32O12XQLNTSW2",
        "load_balancer_security_group_id": "web-lb-sg-id",
        "instance_security_group_id": "web-instances-sg-id",
        "target_group_arns": [OWN_TG_ARN],
        "opt_outs": [],
        "opt_out_reasons": {},
    }
