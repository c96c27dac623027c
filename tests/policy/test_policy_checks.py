"""Every resource policy on its known-good and known-bad inputs, through the pure checks."""

from __future__ import annotations

import pytest
from immutable_policy.common import UNKNOWN, Context
from immutable_policy.registry import BY_NAME, POLICIES, run_resource_policy

from .policy_cases import CASES, Case
from .policy_testkit import (
    ASG,
    CONFIG_MAP,
    CONTAINER,
    CRON_JOB,
    DEPLOYMENT,
    INSTANCE,
    JOB,
    LAUNCH_TEMPLATE,
    NAMESPACE,
    NETWORK_POLICY,
    SECURITY_GROUP,
    VAP,
    VAP_BINDING,
    asg,
    config_map,
    cron_job,
    deployment,
    docker_container,
    exec_lock,
    exec_lock_binding,
    instance,
    job,
    launch_template,
    namespace,
    network_policy,
    security_group,
)
from .policy_testkit import changed as _changed


def run(case: Case) -> list[str]:
    ctx = Context(config=case.config, provider=case.provider, ignore_changes=case.ignore_changes)
    return run_resource_policy(BY_NAME[case.policy], case.type, case.props, ctx)


@pytest.mark.parametrize("case", [c for c in CASES if c.good], ids=lambda c: f"{c.policy}:{c.id}")
def test_known_good_passes(case: Case) -> None:
    assert run(case) == []


@pytest.mark.parametrize("case", [c for c in CASES if not c.good], ids=lambda c: f"{c.policy}:{c.id}")
def test_known_bad_is_reported(case: Case) -> None:
    messages = run(case)
    assert messages, f"{case.policy} found nothing wrong"
    assert any(case.expect in m for m in messages), messages


GOOD_RESOURCES = [
    (DEPLOYMENT, deployment()),
    # a bare Pod is refused by k8s-replaced-by-rollout (nothing replaces it): not a known-good resource
    (JOB, job()),
    (CRON_JOB, cron_job()),
    (CONFIG_MAP, config_map()),
    (NAMESPACE, namespace()),
    (NETWORK_POLICY, network_policy()),
    (VAP, exec_lock()),
    (VAP_BINDING, exec_lock_binding()),
    (LAUNCH_TEMPLATE, launch_template()),
    (ASG, asg()),
    (INSTANCE, instance()),
    (SECURITY_GROUP, security_group()),
    (CONTAINER, docker_container()),
]


@pytest.mark.parametrize(("resource_type", "props"), GOOD_RESOURCES, ids=[t for t, _ in GOOD_RESOURCES])
def test_known_good_resources_pass_every_policy(resource_type: str, props: dict) -> None:
    found = {p.name: run_resource_policy(p, resource_type, props) for p in POLICIES if not p.is_stack}
    assert {name: msgs for name, msgs in found.items() if msgs} == {}


def test_a_check_ignores_resource_types_it_is_not_about() -> None:
    for policy in POLICIES:
        if not policy.is_stack:
            assert run_resource_policy(policy, "random:index/thing:Thing", {"image": "nginx"}) == []


def test_unknown_values_are_never_violations() -> None:
    """During preview an output of another resource is unknown; the check runs again at update."""
    bad_but_unknown = [
        (DEPLOYMENT, {"metadata": {"namespace": UNKNOWN}, "spec": {"template": {"spec": UNKNOWN}}}),
        (DEPLOYMENT, {"metadata": {"namespace": "apps"}, "spec": {"template": {"spec": {
            "containers": [{"name": "web", "image": UNKNOWN, "securityContext": UNKNOWN, "resources": UNKNOWN,
                            "livenessProbe": {}, "readinessProbe": {}}],
            "securityContext": UNKNOWN, "automountServiceAccountToken": UNKNOWN}}}}),
        (CONFIG_MAP, {"metadata": {"namespace": "apps"}, "immutable": UNKNOWN}),
        (LAUNCH_TEMPLATE, {"metadataOptions": UNKNOWN, "blockDeviceMappings": UNKNOWN, "tagSpecifications": UNKNOWN}),
        (ASG, {"launchTemplate": {"id": UNKNOWN, "version": UNKNOWN}, "healthCheckType": UNKNOWN, "tags": UNKNOWN}),
        (CONTAINER, {"image": UNKNOWN, "user": UNKNOWN, "readOnly": UNKNOWN, "securityOpts": UNKNOWN,
                     "capabilities": UNKNOWN, "memory": UNKNOWN, "cpus": UNKNOWN, "healthcheck": UNKNOWN}),
    ]
    for resource_type, props in bad_but_unknown:
        found = {p.name: run_resource_policy(p, resource_type, props) for p in POLICIES if not p.is_stack}
        assert {n: m for n, m in found.items() if m} == {}, resource_type


def test_messages_never_echo_secret_or_user_data_values() -> None:
    secret_env = deployment()
    secret_env["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "hunter2-key"}}}]
    messages = run_resource_policy(BY_NAME["k8s-secrets-as-files"], DEPLOYMENT, secret_env)
    assert messages and not any("hunter2" in m for m in messages)
    mutable = instance()
    mutable["userData"] = "#!/bin/sh\nexport TOKEN=topsecret\n"
    del mutable["userDataReplaceOnChange"]
    messages = run_resource_policy(BY_NAME["aws-no-mutable-instance"], INSTANCE, mutable)
    assert messages and not any("topsecret" in m for m in messages)


FIX_WORDS = ("set ", "use ", "add ", "remove ", "move ", "declare ", "create ", "bind ", "list ", "give ", "mount ",
             "run it ", "lower ", "pin ", "fetch ", "read it ", "include ", "label/tag ", "say why", "drop it",
             "keep instances", "expose ", "write ")


@pytest.mark.parametrize("case", [c for c in CASES if not c.good], ids=lambda c: f"{c.policy}:{c.id}")
def test_every_message_says_what_was_seen_and_gives_a_fix(case: Case) -> None:
    """What was seen comes first, then '; ' (or ': ') and one fix the user can apply."""
    for message in run(case):
        seen, _, fix = message.rpartition("; ")
        assert seen, f"no fix after what was seen: {message!r}"
        assert any(word in fix for word in FIX_WORDS) or any(word in message for word in FIX_WORDS), message


def test_a_privileged_container_is_never_told_to_set_allow_privilege_escalation_alone() -> None:
    """Kubernetes refuses allowPrivilegeEscalation: false next to privileged: true or CAP_SYS_ADMIN."""
    sc = "spec.template.spec.containers[0].securityContext"
    for edits in ([(f"{sc}.privileged", True)], [(f"{sc}.capabilities", {"drop": ["ALL"], "add": ["SYS_ADMIN"]})]):
        props = deployment()
        for path, value in edits:
            props = _changed(props, (path, value), (f"{sc}.allowPrivilegeEscalation", True))
        messages = run_resource_policy(BY_NAME["k8s-pod-security-restricted"], DEPLOYMENT, props)
        assert messages and not any("allowPrivilegeEscalation is true; set it to false" in m for m in messages)
        assert any("allowPrivilegeEscalation: false" in m for m in messages), messages
