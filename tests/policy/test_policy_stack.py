"""Stack policies: known-good and known-bad stacks, through the pure checks."""

from __future__ import annotations

from typing import Any

import pytest
from immutable_policy.common import UNKNOWN
from immutable_policy.registry import BY_NAME, run_stack_policy
from immutable_policy.stack import Finding

from .policy_testkit import (
    ASG,
    CLUSTER_ROLE_BINDING,
    CONFIG_MAP,
    CONTAINER,
    DEPLOYMENT,
    INSTANCE,
    JOB,
    LAUNCH_TEMPLATE,
    NAMESPACE,
    NETWORK_POLICY,
    OLD_RELEASE,
    OPT_OUT_REASON,
    RELEASE,
    ROLE,
    ROLE_BINDING,
    VAP,
    VAP_BINDING,
    WEB_SA,
    asg,
    binding,
    changed,
    config_map,
    deployment,
    docker_container,
    exec_lock,
    exec_lock_binding,
    instance,
    job,
    launch_template,
    namespace,
    network_policy,
    with_opt_out,
)


def res(resource_type: str, props: dict[str, Any], name: str = "r", provider: dict[str, Any] | None = None
        ) -> dict[str, Any]:
    return {"type": resource_type, "props": props, "urn": f"urn:pulumi:dev::p::{resource_type}::{name}",
            "name": name, "provider": provider or {}}


def good_stack() -> list[dict[str, Any]]:
    """What the components produce for one service: namespace, default deny, lock, releases."""
    return [
        res(NAMESPACE, namespace(), "apps"),
        res(NETWORK_POLICY, network_policy(), "default-deny"),
        res(VAP, exec_lock(), "lock"),
        res(VAP_BINDING, exec_lock_binding(), "lock-binding"),
        res(CONFIG_MAP, config_map(), "config"),
        res(DEPLOYMENT, deployment(RELEASE, "active", name=f"web-{RELEASE}"), "web-active"),
        res(DEPLOYMENT, deployment(OLD_RELEASE, "kept", name=f"web-{OLD_RELEASE}"), "web-kept"),
        res(LAUNCH_TEMPLATE, launch_template(), "lt"),
        res(ASG, asg(), "asg"),
        res(CONTAINER, docker_container(), "local"),
    ]


def run(policy: str, resources: list[dict[str, Any]], config: dict[str, Any] | None = None) -> list[Finding]:
    return run_stack_policy(BY_NAME[policy], resources, config)


STACK_POLICIES = ["stack-release-membership", "stack-max-kept-releases", "k8s-namespace-network-policy",
                  "k8s-exec-lock-present", "k8s-no-workload-admin", "stack-opt-outs", "k8s-rbac-no-escalation",
                  "k8s-no-host-storage", "k8s-exec-lock-bound"]
T_SPEC = "spec.template.spec"


@pytest.mark.parametrize("policy", STACK_POLICIES)
def test_good_stack_passes(policy: str) -> None:
    assert run(policy, good_stack()) == []


@pytest.mark.parametrize("policy", STACK_POLICIES)
def test_empty_stack_passes(policy: str) -> None:
    assert run(policy, []) == []


# --- stack-release-membership ------------------------------------------------------------


def unlabelled_deployment() -> dict[str, Any]:
    d = deployment()
    for meta in (d["metadata"], d["spec"]["template"]["metadata"]):
        meta["labels"] = {"app.kubernetes.io/name": "web"}
    return d


@pytest.mark.parametrize(("resource_type", "props", "expect"), [
    (DEPLOYMENT, unlabelled_deployment(), "has no immutable.dev/release"),
    (DEPLOYMENT, changed(unlabelled_deployment(), ("metadata.labels", {"immutable.dev/release": "v1"})),
     "immutable.dev/release='v1', not 8 hex"),
    (LAUNCH_TEMPLATE, changed(launch_template(), ("tags", {"Name": "web"})), "has no immutable.dev/release"),
    (ASG, changed(asg(), ("tags", [])), "has no immutable.dev/release"),
    (INSTANCE, changed(instance(), ("tags", {"immutable.dev/release": "release-7"})), "'release-7', not 8 hex"),
    (CONTAINER, changed(docker_container(), ("labels", [])), "has no immutable.dev/release"),
    (JOB, changed(job(), ("metadata.labels", {}), ("spec.template.metadata.labels", {})), "has no"),
], ids=["deployment", "deployment-not-hex", "launch-template", "asg", "instance-not-hex", "container", "job"])
def test_release_membership_bad(resource_type: str, props: dict[str, Any], expect: str) -> None:
    findings = run("stack-release-membership", [res(resource_type, props, "bad")])
    assert len(findings) == 1 and findings[0].urn and findings[0].urn.endswith("::bad")
    assert expect in findings[0].message


def test_release_membership_accepts_the_pod_template_label_and_provider_default_tags() -> None:
    on_template_only = deployment()
    del on_template_only["metadata"]["labels"]["immutable.dev/release"]
    untagged_instance = changed(instance(), ("tags", {"Name": "web"}))
    provider = {"defaultTags": {"tags": {"immutable.dev/release": RELEASE}}}
    stack = [res(DEPLOYMENT, on_template_only), res(INSTANCE, untagged_instance, provider=provider)]
    assert run("stack-release-membership", stack) == []


def test_release_membership_skips_unknown_labels_and_non_compute() -> None:
    stack = [res(DEPLOYMENT, changed(unlabelled_deployment(), ("metadata.labels", UNKNOWN))),
             res(CONFIG_MAP, changed(config_map(), ("metadata.labels", {})))]
    assert run("stack-release-membership", stack) == []


# --- stack-max-kept-releases --------------------------------------------------------------------


def kept(release: str, service: str = "web") -> dict[str, Any]:
    d = deployment(release, "kept", name=f"{service}-{release}")
    d["metadata"]["labels"]["app.kubernetes.io/name"] = service
    return res(DEPLOYMENT, d, f"{service}-{release}")


def test_max_kept_releases_bad() -> None:
    stack = [kept("00000001"), kept("00000002"), kept("00000003")]
    findings = run("stack-max-kept-releases", stack)
    assert findings == [Finding("service apps/web keeps 3 releases (00000001, 00000002, 00000003); at most 2 may "
                                "be kept (remove the oldest or raise maxKeptReleases)", None)]


def test_max_kept_releases_counts_per_service_and_follows_config() -> None:
    stack = [kept("00000001"), kept("00000002"), kept("00000003", "api"), kept("00000004", "api")]
    assert run("stack-max-kept-releases", stack) == []
    assert [f.message.split(" keeps")[0] for f in run("stack-max-kept-releases", stack, {"maxKeptReleases": 1})] \
        == ["service apps/api", "service apps/web"]


def test_max_kept_releases_counts_aws_groups_by_release_not_by_resource() -> None:
    groups = [res(ASG, changed(asg(r, "kept"), ("tags", asg(r, "kept")["tags"]
                                                + [{"key": "immutable.dev/service", "value": "web",
                                                    "propagateAtLaunch": True}])), f"asg-{r}")
              for r in ("00000001", "00000002", "00000003")]
    templates = [res(LAUNCH_TEMPLATE, changed(launch_template("00000001"), ("tags", {
        "immutable.dev/release": "00000001", "immutable.dev/role": "kept", "immutable.dev/service": "web"})), "lt")]
    findings = run("stack-max-kept-releases", groups + templates)
    assert len(findings) == 1 and "service web keeps 3 releases" in findings[0].message


# --- k8s-namespace-network-policy ----------------------------------------------------------------


def test_namespace_without_network_policy() -> None:
    stack = [r for r in good_stack() if r["type"] != NETWORK_POLICY]
    findings = run("k8s-namespace-network-policy", stack)
    assert [f.urn for f in findings] == [stack[0]["urn"]]
    assert "namespace 'apps' has no NetworkPolicy" in findings[0].message


def test_workload_namespace_not_declared_in_the_stack_needs_one_too() -> None:
    other = deployment(namespace="payments")
    stack = [*good_stack(), res(DEPLOYMENT, other, "payments")]
    findings = run("k8s-namespace-network-policy", stack)
    assert len(findings) == 1 and "'payments'" in findings[0].message and findings[0].urn.endswith("::payments")


def test_network_policy_opt_out_with_reason_exempts_the_workload() -> None:
    other = with_opt_out(deployment(namespace="payments"), "network_policy")
    assert run("k8s-namespace-network-policy", [*good_stack(), res(DEPLOYMENT, other)]) == []


def test_network_policy_in_the_providers_namespace_counts() -> None:
    provider = {"namespace": "apps"}
    policy = changed(network_policy(), ("metadata.namespace", UNKNOWN))
    stack = [res(DEPLOYMENT, deployment()), res(NETWORK_POLICY, changed(network_policy(), ("metadata", {
        "name": "deny"})), provider=provider)]
    assert run("k8s-namespace-network-policy", stack) == []
    # a policy whose namespace is unknown during preview: nothing can be said yet
    assert run("k8s-namespace-network-policy", [res(DEPLOYMENT, deployment(namespace="x")),
                                                res(NETWORK_POLICY, policy)]) == []


# --- k8s-exec-lock-present --------------------------------------------------------------------------


def test_workload_without_exec_lock() -> None:
    stack = [r for r in good_stack() if r["type"] not in (VAP, VAP_BINDING)]
    findings = run("k8s-exec-lock-present", stack)
    assert len(findings) == 2 and all("runs without an exec lock" in f.message for f in findings)
    # The advice is the namespace's one lock (ServiceNamespace's), not a lock per service.
    assert all("add a ValidatingAdmissionPolicy named 'apps.exec-lock'" in f.message for f in findings)


def test_exec_lock_must_be_bound_with_deny_and_cover_the_namespace() -> None:
    warn_only = changed(exec_lock_binding(), ("spec.validationActions", ["Warn"]))
    stack = [r for r in good_stack() if r["type"] != VAP_BINDING] + [res(VAP_BINDING, warn_only)]
    assert len(run("k8s-exec-lock-present", stack)) == 2
    elsewhere = [*good_stack(), res(DEPLOYMENT, deployment(namespace="payments"), "payments")]
    findings = run("k8s-exec-lock-present", elsewhere)
    assert [f.urn.rsplit("::", 1)[1] for f in findings] == ["payments"]
    incomplete = changed(exec_lock(), ("spec.matchConstraints.resourceRules", []))
    stack = [r for r in good_stack() if r["type"] != VAP] + [res(VAP, incomplete)]
    assert len(run("k8s-exec-lock-present", stack)) == 2


def test_exec_lock_opt_out_with_reason_exempts_and_without_does_not() -> None:
    stack = [r for r in good_stack() if r["type"] not in (VAP, VAP_BINDING, DEPLOYMENT)]
    assert run("k8s-exec-lock-present", [*stack, res(DEPLOYMENT, with_opt_out(deployment(), "exec_lock"))]) == []
    no_reason = with_opt_out(deployment(), "exec_lock", reason=None)
    assert len(run("k8s-exec-lock-present", [*stack, res(DEPLOYMENT, no_reason)])) == 1


# --- k8s-namespace-network-policy: default deny, not merely "a policy" (issue 18) -----------------


def test_allow_all_network_policy_does_not_satisfy_default_deny() -> None:
    allow_all = {"metadata": {"name": "allow-all", "namespace": "apps"},
                 "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{}], "egress": [{}]}}
    stack = [r for r in good_stack() if r["type"] != NETWORK_POLICY] + [res(NETWORK_POLICY, allow_all, "allow-all")]
    findings = run("k8s-namespace-network-policy", stack)
    messages = [f.message for f in findings]
    assert any("NetworkPolicy 'allow-all' in namespace 'apps' allows all ingress and all egress traffic" in m
               for m in messages), messages
    assert any("namespace 'apps' has no default-deny NetworkPolicy for Egress and Ingress" in m for m in messages)
    # Next to a default deny, an allow-all policy still undoes it (policies add up).
    findings = run("k8s-namespace-network-policy", [*good_stack(), res(NETWORK_POLICY, allow_all, "allow-all")])
    assert [f.urn.rsplit("::", 1)[1] for f in findings] == ["allow-all"]


def test_scoped_allowances_next_to_default_deny_pass() -> None:
    allow = {"metadata": {"name": "allow-ingress", "namespace": "apps"},
             "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}}, "policyTypes": ["Ingress"],
                      "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                          "kubernetes.io/metadata.name": "ingress"}}}], "ports": [{"port": 8080.0}]}]}}
    dns = {"metadata": {"name": "dns", "namespace": "apps"},
           "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53.0,
                                                                                          "protocol": "UDP"}]}]}}
    stack = [*good_stack(), res(NETWORK_POLICY, allow, "allow"), res(NETWORK_POLICY, dns, "dns")]
    assert run("k8s-namespace-network-policy", stack) == []


def test_ingress_only_deny_is_not_enough() -> None:
    ingress_only = changed(network_policy(), ("spec.policyTypes", ["Ingress"]))
    stack = [r for r in good_stack() if r["type"] != NETWORK_POLICY] + [res(NETWORK_POLICY, ingress_only)]
    findings = run("k8s-namespace-network-policy", stack)
    assert len(findings) == 1 and "has no default-deny NetworkPolicy for Egress" in findings[0].message


def test_default_namespace_is_not_told_to_get_a_network_policy() -> None:
    """k8s-no-default-namespace refuses anything placed there: advice must not conflict with it."""
    findings = run("k8s-namespace-network-policy", [res(DEPLOYMENT, deployment(namespace="default"), "web")])
    assert len(findings) == 1
    assert "move it to a namespace of your own" in findings[0].message
    assert "add a default-deny policy" not in findings[0].message


# --- k8s-exec-lock-present: the message names what is wrong with the lock --------------------------


def test_audit_only_binding_gets_the_binding_message_not_no_lock() -> None:
    audit = changed(exec_lock_binding(), ("spec.validationActions", ["Audit"]))
    stack = [r for r in good_stack() if r["type"] != VAP_BINDING] + [res(VAP_BINDING, audit)]
    findings = run("k8s-exec-lock-present", stack)
    assert findings and all("validationActions ['Audit']: it records each exec in the audit log but lets it "
                            "through; set validationActions: [Deny]" in f.message for f in findings)
    assert not any("no bound" in f.message or "no ValidatingAdmissionPolicy" in f.message for f in findings)


def test_unbound_and_incomplete_locks_say_so() -> None:
    unbound = [r for r in good_stack() if r["type"] != VAP_BINDING]
    assert all("is not bound; add a ValidatingAdmissionPolicyBinding" in f.message
               for f in run("k8s-exec-lock-present", unbound))
    incomplete = changed(exec_lock(), ("spec.failurePolicy", "Ignore"))
    stack = [r for r in good_stack() if r["type"] != VAP] + [res(VAP, incomplete)]
    assert all("is incomplete (spec.failurePolicy is Ignore" in f.message for f in run("k8s-exec-lock-present", stack))
    elsewhere = [*good_stack(), res(DEPLOYMENT, deployment(namespace="payments"), "payments")]
    (finding,) = run("k8s-exec-lock-present", elsewhere)
    assert "cover other namespaces only: 'apps.exec-lock' (apps); add 'payments'" in finding.message


# --- k8s-no-workload-admin ------------------------------------------------------------------------


def test_workload_bound_to_cluster_admin_or_a_wildcard_role() -> None:
    admin = binding("ClusterRoleBinding", "ClusterRole", "cluster-admin", WEB_SA)
    wildcard_role = {"metadata": {"name": "anything", "namespace": "apps"},
                     "rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["get", "list"]}]}
    to_wildcard = binding("RoleBinding", "Role", "anything", WEB_SA)
    everyone = binding("ClusterRoleBinding", "ClusterRole", "edit",
                       {"kind": "Group", "name": "system:authenticated", "apiGroup": "rbac.authorization.k8s.io"})
    stack = [res(CLUSTER_ROLE_BINDING, admin, "admin"), res(ROLE, wildcard_role, "role"),
             res(ROLE_BINDING, to_wildcard, "wild"), res(CLUSTER_ROLE_BINDING, everyone, "everyone")]
    findings = {f.urn.rsplit("::", 1)[1]: f.message for f in run("k8s-no-workload-admin", stack)}
    assert set(findings) == {"admin", "wild", "everyone"}
    assert "grants ServiceAccount apps/web the built-in ClusterRole 'cluster-admin'" in findings["admin"]
    assert "bind a Role that lists only the verbs and resources the workload uses" in findings["admin"]
    assert "Role 'anything', whose rules[0].resources is '*'" in findings["wild"]
    assert "group system:authenticated" in findings["everyone"]


def test_scoped_role_human_subjects_and_opt_out_pass() -> None:
    role = {"metadata": {"name": "read-config", "namespace": "apps"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}
    human = binding("ClusterRoleBinding", "ClusterRole", "cluster-admin",
                    {"kind": "Group", "name": "platform-admins", "apiGroup": "rbac.authorization.k8s.io"})
    opted = with_opt_out(binding("ClusterRoleBinding", "ClusterRole", "cluster-admin", WEB_SA), "workload_admin",
                         where="metadata")
    stack = [res(ROLE, role), res(ROLE_BINDING, binding("RoleBinding", "Role", "read-config", WEB_SA)),
             res(CLUSTER_ROLE_BINDING, human), res(CLUSTER_ROLE_BINDING, opted)]
    assert run("k8s-no-workload-admin", stack) == []


# --- stack-opt-outs: every opt-out in use is shown with its reason ------------------------------------


def test_every_valid_opt_out_is_reported_with_its_reason_and_the_rules_it_lifts() -> None:
    tagged = changed(deployment(), (f"{T_SPEC}.containers[0].image", "nginx:1.27"))
    stack = [res(DEPLOYMENT, with_opt_out(tagged, "mutable_image_tag"), "web"),
             res(INSTANCE, changed(instance(), (("tags", "immutable.dev/opt-out/public_ip"), OPT_OUT_REASON)), "vm"),
             res(DEPLOYMENT, with_opt_out(deployment(), "exec_lock", reason="x" * 25), "junk")]
    findings = {f.urn.rsplit("::", 1)[1]: f.message for f in run("stack-opt-outs", stack)}
    assert set(findings) == {"web", "vm"}  # a junk reason lifts nothing: k8s-opt-out-reason reports it instead
    assert findings["web"] == (f"{DEPLOYMENT} 'web' opts out of mutable_image_tag (lifts k8s-image-digest); "
                               f"reason: {OPT_OUT_REASON!r}")
    assert "opts out of public_ip (lifts aws-no-public-ip, aws-no-public-exposure)" in findings["vm"]
