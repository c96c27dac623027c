"""Invalid server groups are refused before anything is registered, with field, value and fix."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from immutable_infra import SpecError
from immutable_infra.aws import ServerGroup, ServerGroupSpec

from ..aws_mocks import AMI_A, AMI_B, CERT, LB_SG, SUBNETS, TG_ARN, VPC, WIRING, Harness, server_group_spec

OPT = {"reason": "reviewed exception, ticket SEC-42"}
LB = {"allowed_cidrs": ["10.0.0.0/8"]}

# (case id, spec overrides, field path reported, value shown or None to skip the check)
INVALID: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("short AMI id", {"ami_id": "ami-123"}, "ami_id", "'ami-123'"),
    ("AMI name instead of id", {"ami_id": "al2023-ami-2023.6"}, "ami_id", None),
    ("uppercase AMI id", {"ami_id": "AMI-0123456789ABCDEF0"}, "ami_id", None),
    ("instance size typo", {"instance_types": ["t3.mircro"]}, "instance_types[0]", "'t3.mircro'"),
    ("instance type without size", {"instance_types": ["t3micro"]}, "instance_types[0]", None),
    ("instance type uppercase", {"instance_types": ["T3.micro"]}, "instance_types[0]", None),
    ("no instance type", {"instance_types": []}, "instance_types", None),
    ("duplicate instance type", {"instance_types": ["t3.micro", "t3.micro"]}, "instance_types", None),
    ("min > max", {"scaling": {"min_size": 3, "max_size": 2}}, "scaling.min_size", "3"),
    ("desired above max", {"scaling": {"min_size": 1, "max_size": 2, "desired_capacity": 5}},
     "scaling.desired_capacity", "5"),
    ("max size zero", {"scaling": {"min_size": 0, "max_size": 0}}, "scaling.max_size", "0"),
    ("app not a DNS label", {"app": "My_App"}, "app", "'My_App'"),
    ("app-env too long", {"app": "payments-gateway", "env": "production-eu"}, "env", None),
    ("app named internal", {"app": "internal"}, "app", None),
    ("unencrypted volume without opt-out", {"volumes": [{"encrypted": False}]}, "volumes[0].encrypted", "False"),
    ("volume of size zero", {"volumes": [{"size_gib": 0}]}, "volumes[0].size_gib", "0"),
    ("bad device name", {"volumes": [{"device_name": "xvda"}]}, "volumes[0].device_name", None),
    ("two volumes on one device", {"volumes": [{}, {"size_gib": 100}]}, "volumes[1].device_name", None),
    ("iops on gp2", {"volumes": [{"volume_type": "gp2", "iops": 3000}]}, "volumes[0].iops", None),
    ("io2 without iops", {"volumes": [{"volume_type": "io2"}]}, "volumes[0].iops", None),
    ("KMS key on unencrypted volume",
     {"volumes": [{"encrypted": False, "kms_key_id": "arn:aws:kms:eu-west-1:123456789012:key/"
                   "01234567-89ab-cdef-0123-456789abcdef"}],
      "security": {"opt_outs": {"unencrypted_volumes": OPT}}}, "volumes[0].kms_key_id", None),
    ("IMDSv1 without opt-out", {"security": {"imdsv2_required": False}}, "security.imdsv2_required", "False"),
    ("hop limit 2 without opt-out", {"security": {"metadata_hop_limit": 2}}, "security.metadata_hop_limit", "2"),
    ("public IP without opt-out", {"security": {"associate_public_ip": True}}, "security.associate_public_ip", None),
    ("key pair without opt-out", {"security": {"key_name": "ops"}}, "security.key_name", "'ops'"),
    ("open SSH", {"security": {"extra_ingress": [{"cidr": "10.0.0.0/8", "port": 22}]}},
     "security.extra_ingress[0].port", "22"),
    ("RDP inside a port range", {"security": {"extra_ingress": [{"cidr": "10.0.0.0/8", "port": 3000,
                                                                 "to_port": 4000}]}},
     "security.extra_ingress[0].port", None),
    ("ingress from anywhere", {"security": {"extra_ingress": [{"cidr": "0.0.0.0/0", "port": 9100}]}},
     "security.extra_ingress[0].cidr", "'0.0.0.0/0'"),
    ("CIDR with host bits", {"security": {"extra_ingress": [{"cidr": "10.0.0.1/8", "port": 9100}]}},
     "security.extra_ingress[0].cidr", None),
    ("egress everywhere on every port", {"security": {"egress": [{"cidr": "0.0.0.0/0"}]}},
     "security.egress[0].port", None),
    ("opt-out without a real reason", {"security": {"associate_public_ip": True,
                                                    "opt_outs": {"public_ip": {"reason": "because"}}}},
     "security.opt_outs.public_ip.reason", None),
    ("unknown opt-out", {"security": {"opt_outs": {"root_login": OPT}}}, "security.opt_outs.root_login", None),
    ("instances in public subnets without opt-out", {"network": {"subnet_tier": "public"}},
     "network.subnet_tier", "'public'"),
    ("internal ALB in public subnets", {"load_balancer": {**LB, "subnet_tier": "public"}},
     "load_balancer.subnet_tier", "'public'"),
    ("internet-facing ALB in private subnets", {"load_balancer": {**LB, "internal": False}},
     "load_balancer.subnet_tier", "'private'"),
    ("ALB in one subnet", {"load_balancer": {**LB, "subnet_ids": ["subnet-0aaaaaaaaaaaaaaaa"]}},
     "load_balancer.subnet_ids", None),
    ("plain HTTP without opt-out", {"load_balancer": {**LB, "https": False}}, "load_balancer.https", "False"),
    ("ALB without allowed clients", {"load_balancer": {"allowed_cidrs": []}}, "load_balancer.allowed_cidrs", None),
    ("weak TLS policy", {"load_balancer": {**LB, "ssl_policy": "ELBSecurityPolicy-2016-08"}},
     "load_balancer.ssl_policy", None),
    ("bad certificate ARN", {"load_balancer": {**LB, "certificate_arn": "arn:aws:iam::123456789012:cert/x"}},
     "load_balancer.certificate_arn", None),
    ("no load balancer at all", {"load_balancer": None}, "load_balancer", None),
    ("both ALB and target groups", {"target_groups": {"arns": [TG_ARN]}}, "target_groups", None),
    ("bad target group ARN", {"load_balancer": None, "target_groups": {"arns": ["tg-web"]}},
     "target_groups.arns[0]", None),
    ("health path without slash", {"health_check": {"path": "health"}}, "health_check.path", None),
    ("health timeout not below interval", {"health_check": {"timeout_seconds": 30, "interval_seconds": 15}},
     "health_check.timeout_seconds", "30"),
    ("health gate switched off", {"health_check": {"capacity_timeout": "0"}}, "health_check.capacity_timeout",
     None),
    ("keep too many", {"keep_previous": 11}, "keep_previous", "11"),
    ("unknown strategy", {"strategy": "blue-green"}, "strategy", "'blue-green'"),
    ("refresh settings on replace-group", {"instance_refresh": {"min_healthy_percentage": 50}},
     "instance_refresh", None),
    ("checkpoints not ending at 100", {"strategy": "instance-refresh",
                                       "instance_refresh": {"checkpoint_percentages": [20, 50]}},
     "instance_refresh.checkpoint_percentages", None),
    ("refresh that can never replace", {"strategy": "instance-refresh",
                                        "instance_refresh": {"min_healthy_percentage": 100}},
     "instance_refresh.max_healthy_percentage", "100"),
    ("keep_previous with instance-refresh", {"strategy": "instance-refresh", "keep_previous": 2},
     "keep_previous", "2"),
    ("data volume with replace-group",
     {"state": {"data_volumes": [{"volume_id": "vol-0123456789abcdef0", "mount_path": "/data"}]}},
     "state.data_volumes", None),
    ("two mounts on one path",
     {"state": {"efs": [{"file_system_id": "fs-01234567", "mount_path": "/data"},
                        {"file_system_id": "fs-89abcdef", "mount_path": "/data"}]}},
     "state.efs[1].mount_path", "'/data'"),
    ("bad EFS id", {"state": {"efs": [{"file_system_id": "efs-1", "mount_path": "/data"}]}},
     "state.efs[0].file_system_id", None),
    ("reserved tag key", {"tags": {"immutable.dev/release": "x"}}, "tags.immutable.dev/release", None),
    ("AWS tag prefix", {"tags": {"aws:cloudformation:stack-name": "x"}}, "tags.aws:cloudformation:stack-name", None),
    ("bad instance profile", {"iam_instance_profile": "web prod/profile!"}, "iam_instance_profile", None),
    ("alarm action not an SNS topic", {"monitoring": {"alarm_actions": ["oncall@example.com"]}},
     "monitoring.alarm_actions[0]", None),
    ("bad VPC id", {"network": {"vpc_id": "vpc-xyz"}}, "network.vpc_id", None),
    ("bad subnet id", {"network": {"subnet_ids": ["subnet-1"]}}, "network.subnet_ids[0]", None),
    ("port out of range", {"port": 70000}, "port", "70000"),
    ("misspelt field", {"instance_type": "t3.micro"}, "instance_type", None),
    ("user data not a script with state mounts",
     {"user_data": "systemctl start web",
      "state": {"efs": [{"file_system_id": "fs-01234567", "mount_path": "/data"}]}}, "user_data", None),
    ("user data over 16 KiB", {"user_data": "#!/bin/bash\n" + "x" * 17000}, "user_data", None),
]


def build(spec: dict[str, Any], history: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
    ServerGroup("web", {"spec": spec, "previous": (history or [])[::-1], **WIRING, **kwargs})


def refused(harness: Harness, spec: dict[str, Any], **kwargs: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        harness.run(lambda: build(spec, **kwargs))
    # Nothing at all was registered, not even the component.
    assert harness.registered == []
    return info.value


def test_there_are_at_least_twenty_invalid_cases() -> None:
    assert len(INVALID) >= 20


@pytest.mark.parametrize(("overrides", "path", "shown"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_spec_is_refused_before_registration(overrides: dict[str, Any], path: str, shown: str | None) -> None:
    harness = Harness()
    error = refused(harness, server_group_spec(**overrides))

    assert path in error.paths, error
    problem = error.problem_at(path)
    assert problem.fix and problem.message
    if shown is not None:
        assert problem.value == shown
    assert "nothing was deployed" in str(error)


def test_every_problem_is_reported_at_once() -> None:
    spec = server_group_spec(ami_id="ami-1", instance_types=["t3.mircro"], scaling={"min_size": 5, "max_size": 2},
                             volumes=[{"encrypted": False}],
                             security={"extra_ingress": [{"cidr": "0.0.0.0/0", "port": 22}]},
                             load_balancer={**LB, "subnet_tier": "public"})
    error = refused(Harness(), spec)

    assert sorted(error.paths) == sorted([
        "ami_id", "instance_types[0]", "scaling.min_size", "security.extra_ingress[0].port",
        "security.extra_ingress[0].cidr", "load_balancer.subnet_tier"])


def test_cross_field_rules_of_the_spec_are_reported_together() -> None:
    spec = server_group_spec(volumes=[{"encrypted": False}], network={"subnet_tier": "public"},
                             instance_refresh={"min_healthy_percentage": 50})
    error = refused(Harness(), spec)

    assert error.paths == ["volumes[0].encrypted", "network.subnet_tier", "instance_refresh"]


def test_fixes_say_what_to_do() -> None:
    error = refused(Harness(), server_group_spec(instance_types=["t3.mircro"], instance_type="t3.micro"))
    assert "t3.micro" in error.problem_at("instance_types[0]").fix
    assert "instance_types" in error.problem_at("instance_type").fix

    error = refused(Harness(), server_group_spec(volumes=[{"encrypted": False}]))
    assert "security.opt_outs.unencrypted_volumes" in error.problem_at("volumes[0].encrypted").fix
    assert "min_size" in refused(Harness(), server_group_spec(scaling={"min_size": 3, "max_size": 2})).problem_at(
        "scaling.min_size").message


@pytest.mark.parametrize("secret", [
    "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
    "aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE",
    'DB_PASSWORD="hunter2hunter2"',
    "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
])
def test_secrets_in_user_data_are_refused_and_never_echoed(secret: str) -> None:
    error = refused(Harness(), server_group_spec(user_data=f"#!/bin/bash\n{secret}\n"))

    assert error.problem_at("user_data").value == "***"
    assert secret.split("\n")[0][-12:] not in str(error)


def test_user_data_fetching_secrets_at_boot_is_fine() -> None:
    script = ('#!/bin/bash\nDB_PASSWORD=$(aws ssm get-parameter --name /web/db --with-decryption '
              '--query Parameter.Value --output text)\nTOKEN=$(curl -sX PUT http://169.254.169.254/latest/api/token)\n')
    assert ServerGroupSpec.model_validate(server_group_spec(user_data=script)).user_data == script


# --- constructor arguments and history ------------------------------------------------------------


def test_an_id_must_come_from_the_spec_or_an_argument() -> None:
    harness = Harness()
    with pytest.raises(SpecError) as info:
        harness.run(lambda: ServerGroup("web", {"spec": server_group_spec()}))
    assert harness.registered == []
    assert info.value.paths == ["network.vpc_id", "network.subnet_ids", "load_balancer.subnet_ids",
                                "load_balancer.certificate_arn"]
    assert "args['vpc_id']" in info.value.problem_at("network.vpc_id").fix


def test_an_id_given_twice_is_refused() -> None:
    spec = server_group_spec(network={"vpc_id": VPC})
    error = refused(Harness(), spec)
    assert error.paths == ["network.vpc_id"]
    assert "twice" in error.problem_at("network.vpc_id").message


def test_an_argument_the_spec_does_not_use_is_refused() -> None:
    error = refused(Harness(), server_group_spec(), target_group_arns=[TG_ARN], load_balancer_security_group_id=LB_SG)
    assert error.paths == ["target_group_arns", "load_balancer_security_group_id"]


def test_existing_target_groups_need_the_load_balancers_security_group() -> None:
    harness = Harness()
    spec = server_group_spec(load_balancer=None, target_groups={"arns": [TG_ARN]})
    with pytest.raises(SpecError) as info:
        harness.run(lambda: ServerGroup("web", {"spec": spec, "vpc_id": VPC, "subnet_ids": SUBNETS}))
    assert harness.registered == []
    assert info.value.paths == ["target_groups.security_group_id"]


def test_an_invalid_history_entry_is_reported_under_its_index() -> None:
    harness = Harness()
    with pytest.raises(SpecError) as info:
        harness.run(lambda: build(server_group_spec(ami_id=AMI_B), history=[server_group_spec(ami_id="ami-x")]))
    assert harness.registered == []
    assert info.value.paths == ["previous[0].ami_id"]


def test_history_of_another_app_is_refused() -> None:
    harness = Harness()
    with pytest.raises(SpecError) as info:
        harness.run(lambda: build(server_group_spec(ami_id=AMI_B), history=[server_group_spec(app="api")]))
    assert harness.registered == []
    assert info.value.paths == ["previous[0].app"]


def test_instance_refresh_cannot_keep_history() -> None:
    harness = Harness()
    spec = server_group_spec(ami_id=AMI_B, strategy="instance-refresh")
    with pytest.raises(SpecError) as info:
        harness.run(lambda: build(spec, history=[server_group_spec(ami_id=AMI_A, strategy="instance-refresh")]))
    assert harness.registered == []
    assert info.value.paths == ["history"]


def test_a_kept_release_on_another_port_is_refused() -> None:
    harness = Harness()
    with pytest.raises(SpecError) as info:
        harness.run(lambda: build(server_group_spec(port=9090), history=[server_group_spec()]))
    assert harness.registered == []
    assert info.value.paths == ["previous[0].port"]


def test_outputs_of_other_resources_are_accepted_as_arguments() -> None:
    # An Output is never inspected during validation (it has no value yet at that point).
    harness = Harness()
    harness.run(lambda: ServerGroup("web", {"spec": server_group_spec(), "vpc_id": pulumi.Output.from_input(VPC),
                                            "subnet_ids": SUBNETS, "load_balancer_subnet_ids": SUBNETS,
                                            "certificate_arn": pulumi.Output.from_input(CERT)}))
    assert len(harness.registered) > 1
