"""The pure parts of the server group: release fields, ids, tags, user data, state, ledger."""

from __future__ import annotations

import base64

import pytest
from immutable_infra import SpecError
from immutable_infra.aws import ServerGroupSpec, plan_releases, select_kept
from immutable_infra.aws.ids import check_instance_type
from immutable_infra.aws.state import State, boot_script
from immutable_infra.aws.tags import check_tags, release_tags, shared_tags, tag_safe
from immutable_infra.aws.user_data import BOUNDARY, combine, content_type, encode
from immutable_infra.release import release_fields

from ..aws_mocks import AMI_A, AMI_B, AMI_C, server_group_spec


def spec(**overrides: object) -> ServerGroupSpec:
    return ServerGroupSpec.model_validate(server_group_spec(**overrides))


# --- what is in a release -------------------------------------------------------------------


def test_release_is_the_hash_of_exactly_what_runs() -> None:
    assert sorted(release_fields(spec())) == [
        "ami_id", "detailed_monitoring", "iam_instance_profile", "instance_types", "port", "security",
        "state", "tags", "user_data", "volumes"]


def test_release_id_is_stable_and_short() -> None:
    assert spec().release == spec().release
    assert len(spec().release) == 8
    assert spec().release != spec(ami_id=AMI_B).release


def test_with_ami_keeps_everything_else() -> None:
    base = spec(keep_previous=3)
    moved = base.with_ami(AMI_B)
    assert moved.ami_id == AMI_B
    assert moved.model_dump(exclude={"ami_id"}) == base.model_dump(exclude={"ami_id"})
    assert "keep_previous" in moved.model_fields_set


# --- ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["t3.micro", "t4g.nano", "m7g.16xlarge", "c6gn.metal", "u-6tb1.112xlarge",
                                   "mac2-m2pro.metal", "m7i.metal-24xl", "inf2.48xlarge"])
def test_real_instance_types_pass(value: str) -> None:
    assert check_instance_type(value) == value


@pytest.mark.parametrize("ami", ["ami-01234567", "ami-0123456789abcdef0"])
def test_both_ami_id_lengths_pass(ami: str) -> None:
    assert spec(ami_id=ami).ami_id == ami


def test_instance_profile_may_be_an_arn() -> None:
    arn = "arn:aws:iam::123456789012:instance-profile/apps/web-prod"
    assert spec(iam_instance_profile=arn).iam_instance_profile == arn


# --- tags --------------------------------------------------------------------------------------


def test_tag_values_keep_only_what_aws_allows() -> None:
    assert tag_safe("legacy agent, ticket #12 (ops)") == "legacy agent ticket 12 ops"
    assert tag_safe("é/ü: ok_+=-@.") == "é/ü: ok_+=-@."
    assert len(tag_safe("x" * 400)) == 256


@pytest.mark.parametrize("tags", [{"Name": "x"}, {"immutable.dev/app": "x"}, {"aws:x": "y"}, {"a,b": "c"},
                                  {"k": "v" * 257}, {f"k{i}": "v" for i in range(31)}])
def test_reserved_or_invalid_tags_are_refused(tags: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        check_tags(tags)


def test_release_and_shared_tags() -> None:
    assert release_tags("web", "prod", "abcd1234", {"team": "x"}, {"public_ip": "why, not"}) == {
        "team": "x", "immutable.dev/app": "web", "immutable.dev/env": "prod",
        "immutable.dev/managed-by": "immutable-infra", "immutable.dev/release": "abcd1234",
        "immutable.dev/opt-out/public_ip": "why not"}
    shared = shared_tags("web", "prod", "abcd1234", {}, {})
    assert shared["immutable.dev/active-release"] == "abcd1234" and "immutable.dev/release" not in shared


# --- user data and state ---------------------------------------------------------------------------


def test_user_data_alone_is_passed_through_and_base64_encoded() -> None:
    assert combine(None, "#!/bin/bash\necho hi\n") == "#!/bin/bash\necho hi\n"
    assert base64.b64decode(encode("#cloud-config\n") or "") == b"#cloud-config\n"
    assert encode(None) is None
    assert (content_type("#cloud-config\n"), content_type("#!/bin/sh"), content_type("echo")) == (
        "text/cloud-config", "text/x-shellscript", None)


def test_state_script_comes_first_in_a_deterministic_multipart_document() -> None:
    document = combine("#!/bin/bash\nmount /a\n", "#cloud-config\nruncmd: [x]\n")
    assert document == combine("#!/bin/bash\nmount /a\n", "#cloud-config\nruncmd: [x]\n")
    assert document is not None
    assert document.startswith(f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"')
    assert document.index("text/x-shellscript") < document.index("mount /a") < document.index("text/cloud-config")
    assert document.rstrip().endswith(f"--{BOUNDARY}--")


def test_boot_script_mounts_efs_with_tls_and_attaches_volumes_with_imdsv2() -> None:
    state = State.model_validate({
        "efs": [{"file_system_id": "fs-01234567", "mount_path": "/srv/shared", "read_only": True}],
        "data_volumes": [{"volume_id": "vol-0123456789abcdef0", "mount_path": "/data"}],
    })
    script = boot_script(state)
    assert script is not None
    assert "echo 'fs-01234567:/ /srv/shared efs _netdev,tls,ro 0 0' >> /etc/fstab" in script
    assert "X-aws-ec2-metadata-token-ttl-seconds" in script  # IMDSv2 session, works with hop limit 1
    assert "attach_volume vol-0123456789abcdef0 /dev/sdf /data" in script
    assert boot_script(State()) is None


def test_a_data_volume_fits_a_single_instance_refreshed_in_place() -> None:
    ok = spec(strategy="instance-refresh", scaling={"min_size": 1, "max_size": 1},
              instance_refresh={"min_healthy_percentage": 0},
              state={"data_volumes": [{"volume_id": "vol-0123456789abcdef0", "mount_path": "/data"}]})
    rendered = ok.rendered_user_data()
    assert rendered is not None and "attach_volume vol-0123456789abcdef0" in rendered
    with pytest.raises(SpecError, match=r"scaling\.max_size"):
        spec(strategy="instance-refresh", instance_refresh={"min_healthy_percentage": 0},
             state={"data_volumes": [{"volume_id": "vol-0123456789abcdef0", "mount_path": "/data"}]})


# --- ledger ------------------------------------------------------------------------------------------


def test_kept_releases_are_the_most_recent_others_counted_once() -> None:
    a, b, c = spec(ami_id=AMI_A, keep_previous=2), spec(ami_id=AMI_B), spec(ami_id=AMI_C)
    # Ledger oldest first; `b` appears twice (rolled back to and forward again), `a` is active.
    kept = select_kept(a, [a, b, c, b, a])
    assert [(i, s.ami_id) for i, s in kept] == [(3, AMI_B), (2, AMI_C)]


def test_a_scale_only_entry_is_the_same_release_and_not_kept_twice() -> None:
    active = spec(scaling={"min_size": 5, "max_size": 9})
    assert select_kept(active, [spec()]) == []


def test_plan_names_groups_per_release_or_one_group_for_instance_refresh() -> None:
    plan = plan_releases(spec(ami_id=AMI_B), [spec()])
    assert plan.active.group_name == f"web-prod-{spec(ami_id=AMI_B).release}"
    assert [k.group_name for k in plan.kept] == [f"web-prod-{spec().release}"]
    assert plan.active.active and not plan.kept[0].active
    refresh = plan_releases(spec(strategy="instance-refresh"))
    assert refresh.active.group_name == "web-prod" and refresh.kept == ()
