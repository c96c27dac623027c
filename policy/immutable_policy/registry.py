"""The policy list: name, level, description, config schema and the pure check behind each.

Engine-free, so the list itself is testable (names unique and prefixed, every policy has a
good and a bad test case) and the README table can be generated from it.

Levels: ``mandatory`` (the default for rules whose violation weakens isolation, lets a
running release change in place, or exposes hosts and credentials) fails ``pulumi preview``
/``pulumi up``; ``advisory`` (operability and hygiene) is reported only. Every level can be
changed per stack with ``--policy-pack-config`` (see README.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from . import aws, docker, ignored, kubernetes, optouts, rbac, stack, storage, takeover
from .common import Context

ResourceCheck = Callable[[str, Mapping[str, Any], Context], list[str]]
StackCheck = Callable[[Sequence[Mapping[str, Any]], Mapping[str, Any]], list[stack.Finding]]
Level = Literal["mandatory", "advisory"]
Severity = Literal["low", "medium", "high", "critical"]

PACK_NAME = "immutable-infra"


@dataclass(frozen=True)
class PolicyDef:
    name: str
    description: str
    level: Level
    severity: Severity
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """JSON schema of each config property (each with its ``default``)."""

    @property
    def platform(self) -> str:
        return self.name.split("-", 1)[0]

    @property
    def is_stack(self) -> bool:
        return self.stack_check is not None

    def defaults(self) -> dict[str, Any]:
        return {key: schema["default"] for key, schema in self.config.items() if "default" in schema}


def _r(name: str, level: Level, severity: Severity, check: ResourceCheck, description: str,
       config: Mapping[str, Mapping[str, Any]] | None = None) -> PolicyDef:
    return PolicyDef(name, description, level, severity, resource_check=check, config=config or {})


def _s(name: str, level: Level, severity: Severity, check: StackCheck, description: str,
       config: Mapping[str, Mapping[str, Any]] | None = None) -> PolicyDef:
    return PolicyDef(name, description, level, severity, stack_check=check, config=config or {})


_PORTS = {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 65535}}

POLICIES: tuple[PolicyDef, ...] = (
    # --- Kubernetes -----------------------------------------------------------------
    _r("k8s-image-digest", "mandatory", "high", kubernetes.check_image_digest,
       "Container images are pinned by digest (repo@sha256:...), never by a movable tag."),
    _r("k8s-pod-security-restricted", "mandatory", "high", kubernetes.check_pod_security_restricted,
       "Pods meet Pod Security 'restricted': non-root, no privilege escalation, capabilities dropped, "
       "seccomp RuntimeDefault, no host namespaces, ports or paths."),
    _r("k8s-read-only-root-filesystem", "mandatory", "medium", kubernetes.check_read_only_root_filesystem,
       "Containers run with a read-only root filesystem (emptyDir mounts for scratch space)."),
    _r("k8s-non-root-ids", "advisory", "medium", kubernetes.check_non_root_ids,
       "Containers run with a UID and GID of 10000 or more (no overlap with host users).",
       {"minId": {"type": "integer", "minimum": 1, "default": 10000,
                  "description": "Smallest UID/GID allowed."}}),
    _r("k8s-resources", "mandatory", "medium", kubernetes.check_resources,
       "Containers declare CPU and memory requests and limits.",
       {"requireCpuLimit": {"type": "boolean", "default": True,
                            "description": "Also require limits.cpu (requests are always required)."}}),
    _r("k8s-probes", "advisory", "low", kubernetes.check_probes,
       "Long-running containers declare liveness and readiness probes (Jobs and CronJobs are exempt)."),
    _r("k8s-no-service-account-token", "mandatory", "medium", kubernetes.check_no_service_account_token,
       "No API token reaches a pod: automountServiceAccountToken false on pods and ServiceAccounts, no projected "
       "serviceAccountToken volumes, no long-lived token Secrets."),
    _r("k8s-no-default-namespace", "mandatory", "medium", kubernetes.check_no_default_namespace,
       "Namespaced objects are never placed in the 'default' namespace.",
       {"forbiddenNamespaces": {"type": "array", "items": {"type": "string"}, "default": ["default"],
                                "description": "Namespaces nothing may be placed in."}}),
    _r("k8s-config-immutable", "mandatory", "high", kubernetes.check_config_immutable,
       "ConfigMaps and Secrets are immutable: a change makes a new object and a new release."),
    _r("k8s-namespace-pod-security", "mandatory", "medium", kubernetes.check_namespace_pod_security,
       "Namespaces carry pod-security.kubernetes.io/enforce: restricted."),
    _r("k8s-opt-out-reason", "mandatory", "medium", kubernetes.check_opt_out_reason,
       "No opt-out (exec lock included) without a real reason: an immutable.dev/opt-out-<name> label needs "
       "an immutable.dev/opt-out-reason-<name> annotation of at least 3 words and 20 characters."),
    _r("k8s-exec-lock-complete", "mandatory", "high", kubernetes.check_exec_lock_complete,
       "An exec lock refuses exec, attach, port-forward and ephemeral containers, fails closed and is "
       "bound with Deny."),
    _r("k8s-secrets-as-files", "advisory", "medium", kubernetes.check_secrets_as_files,
       "Secrets are mounted as files, not passed as environment variables."),
    _r("k8s-no-in-place-patch", "mandatory", "high", kubernetes.check_no_in_place_patch,
       "No *Patch changes running compute (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob...) "
       "beyond metadata and replicas, nor the content of a ConfigMap or Secret."),
    _r("k8s-replaced-by-rollout", "mandatory", "high", kubernetes.check_replaced_by_rollout,
       "Workloads are replaced when they change: no bare Pod, ReplicaSet or ReplicationController, no OnDelete "
       "update strategy, no StatefulSet partition, no paused Deployment."),
    _r("k8s-no-plaintext-secret", "mandatory", "critical", kubernetes.check_no_plaintext_secret,
       "No secret in clear in env values, command, args or ConfigMap data (the components' own rules)."),
    _r("k8s-service-exposure", "mandatory", "high", kubernetes.check_service_exposure,
       "Services of type LoadBalancer or NodePort, or with externalIPs, need an exposed_service opt-out."),
    _r("k8s-ingress-tls", "mandatory", "high", kubernetes.check_ingress_tls,
       "Ingresses serve every host over TLS (spec.tls covers each host), or record a plain_http_ingress opt-out."),
    _r("k8s-no-takeover", "mandatory", "high", takeover.check_no_takeover,
       "No deploy takes over or rewrites running objects: no patchForce on patches, no patches of Services, "
       "NetworkPolicies, admission or RBAC objects, no orphaning deletes, no mutating admission of pods."),
    _r("k8s-no-extra-containers", "mandatory", "high", takeover.check_no_extra_containers,
       "Pod templates run no ephemeral containers and do not share the process namespace."),
    _r("k8s-no-ignored-release-fields", "mandatory", "high", ignored.check_k8s,
       "No ignore_changes on the fields that define a Kubernetes object (config content, Service selectors, "
       "NetworkPolicy, admission and RBAC specs, Namespace labels, or '*')."),
    _s("k8s-rbac-no-escalation", "mandatory", "critical", rbac.check_no_rbac_escalation,
       "No workload subject gets escalation (escalate, bind, impersonate, RBAC or admission writes, tokens), Secret "
       "reads, pods/exec or nodes/proxy; no binding to anonymous users; no aggregation of such rules into built-in "
       "roles."),
    _s("k8s-no-host-storage", "mandatory", "critical", storage.check_no_host_storage,
       "No volume reaches the node through indirection: hostPath/local PersistentVolumes, host-path storage classes "
       "and CSI drivers, and the claims and workloads that use them; no raw block devices."),
    _s("k8s-no-workload-admin", "mandatory", "critical", rbac.check_no_workload_admin,
       "No service account (or everyone) is bound to cluster-admin, admin, edit or a wildcard role."),
    _s("k8s-namespace-network-policy", "mandatory", "high", stack.check_namespace_network_policy,
       "Every namespace the stack creates or deploys into is default deny (Ingress and Egress), and no "
       "NetworkPolicy there allows all traffic."),
    _s("k8s-exec-lock-bound", "mandatory", "high", stack.check_exec_lock_bound,
       "Every exec lock of the stack is bound with Deny where it applies (joins lock and binding): no lock "
       "without a binding, bound only with Audit or Warn, or narrowed by its bindings to no pod."),
    _s("k8s-exec-lock-present", "advisory", "medium", stack.check_exec_lock_present,
       "Workloads run under an exec lock (a ValidatingAdmissionPolicy named '*exec-lock*' that covers their "
       "namespace, bound with Deny: a ServiceNamespace's '<namespace>.exec-lock') unless they record an "
       "exec_lock opt-out with a reason."),
    # --- AWS ------------------------------------------------------------------------
    _r("aws-imdsv2", "mandatory", "high", aws.check_imdsv2,
       "Instances require IMDSv2 tokens with a response hop limit of 1.",
       {"hopLimit": {"type": "integer", "minimum": 1, "maximum": 64, "default": 1,
                     "description": "Required httpPutResponseHopLimit."}}),
    _r("aws-encrypted-volumes", "mandatory", "high", aws.check_encrypted_volumes,
       "EBS volumes (launch template, instance and standalone) are encrypted.",
       {"encryptionByDefault": {"type": "boolean", "default": False,
                                "description": "The account enforces EBS encryption by default."}}),
    _r("aws-no-public-ip", "mandatory", "high", aws.check_no_public_ip,
       "Instances get no public IP address; traffic comes through the load balancer."),
    _r("aws-no-ssh", "mandatory", "high", aws.check_no_ssh,
       "No SSH or RDP: no key pair on instances and no ingress to port 22 or 3389.",
       {"allowedSshCidrs": {"type": "array", "items": {"type": "string"}, "default": [],
                            "description": "CIDRs that may still reach port 22/3389 (e.g. a VPN)."}}),
    _r("aws-no-open-ingress", "mandatory", "high", aws.check_no_open_ingress,
       "No ingress from 0.0.0.0/0 or ::/0 except to the public ports of a load balancer.",
       {"publicPorts": {**_PORTS, "default": [80, 443],
                        "description": "Ports that may be open to the internet."}}),
    _r("aws-asg-launch-template", "mandatory", "medium", aws.check_asg_launch_template,
       "Auto scaling groups launch from a launch template at a pinned version."),
    _r("aws-asg-elb-health-check", "advisory", "medium", aws.check_asg_elb_health_check,
       "Auto scaling groups use ELB health checks."),
    _r("aws-release-tags", "advisory", "low", aws.check_release_tag_propagation,
       "The release tag reaches what groups and templates launch (propagateAtLaunch, tagSpecifications, "
       "volume tags)."),
    _r("aws-opt-out-reason", "mandatory", "medium", aws.check_opt_out_reason,
       "No opt-out tag (immutable.dev/opt-out/<name>) without a reason as its value."),
    _r("aws-no-plaintext-secret", "mandatory", "critical", aws.check_no_plaintext_secret,
       "No credential in user data (launch templates, launch configurations, instances)."),
    _r("aws-no-mutable-instance", "mandatory", "high", aws.check_no_mutable_instance,
       "No standalone aws.ec2.Instance whose user data changes in place (user_data_replace_on_change)."),
    _r("aws-no-public-exposure", "mandatory", "high", aws.check_no_public_exposure,
       "Nothing is made public around the instance: no Elastic IP on instances, no subnet mapping public IPs, no "
       "bucket policy or ACL for everyone, no public-access block switched off, no AMI launchable by all."),
    _r("aws-no-ignored-release-fields", "mandatory", "high", ignored.check_aws,
       "No ignore_changes on the fields that define what an AWS resource runs or who reaches it (or '*')."),
    # --- Docker ---------------------------------------------------------------------
    _r("docker-image-digest", "mandatory", "high", docker.check_image_digest,
       "Container images are pinned by digest or image id."),
    _r("docker-non-root", "mandatory", "high", docker.check_non_root,
       "Containers run as a non-root user."),
    _r("docker-read-only-rootfs", "mandatory", "medium", docker.check_read_only_rootfs,
       "Containers run with a read-only root filesystem."),
    _r("docker-no-privileged", "mandatory", "critical", docker.check_no_privileged,
       "Containers never run privileged."),
    _r("docker-no-host-network", "mandatory", "high", docker.check_no_host_network,
       "Containers do not use the host network (nor the host PID, IPC or user namespace)."),
    _r("docker-no-new-privileges", "mandatory", "medium", docker.check_no_new_privileges,
       "Containers run with no-new-privileges."),
    _r("docker-drop-capabilities", "mandatory", "medium", docker.check_drop_capabilities,
       "Containers drop all capabilities (NET_BIND_SERVICE may be added back)."),
    _r("docker-resource-limits", "advisory", "low", docker.check_resource_limits,
       "Containers have memory and CPU limits."),
    _r("docker-healthcheck", "advisory", "low", docker.check_healthcheck,
       "Containers declare a health check."),
    _r("docker-no-plaintext-secret", "mandatory", "critical", docker.check_no_plaintext_secret,
       "No secret in clear in a container's envs or command (the components' own rules)."),
    _r("docker-opt-out-reason", "mandatory", "medium", docker.check_opt_out_reason,
       "No opt-out label without a reason label."),
    _r("docker-no-host-access", "mandatory", "critical", docker.check_no_host_access,
       "Containers reach nothing of the host: no bind mounts (the engine socket above all), no devices, no "
       "unconfined seccomp, AppArmor or SELinux, no host cgroup namespace."),
    _r("docker-published-ports", "mandatory", "high", docker.check_published_ports,
       "Ports are published on a named address (127.0.0.1), never on all interfaces, unless an exposed_service "
       "opt-out says why."),
    _r("docker-no-swarm-service", "mandatory", "high", docker.check_no_swarm_service,
       "No Swarm services: releases run as docker.Container resources."),
    _r("docker-no-ignored-release-fields", "mandatory", "high", ignored.check_docker,
       "No ignore_changes on what a container runs (image, command, env, mounts, user, security options, or '*')."),
    # --- whole stack ------------------------------------------------------------------
    _s("stack-release-membership", "mandatory", "medium", stack.check_release_membership,
       "Every compute resource belongs to a release: it carries immutable.dev/release (8 hex characters)."),
    _s("stack-max-kept-releases", "advisory", "low", stack.check_max_kept_releases,
       "No service keeps more releases (immutable.dev/role: kept) than configured.",
       {"maxKeptReleases": {"type": "integer", "minimum": 0, "default": 2,
                            "description": "Most kept releases per service."},
        "serviceLabels": {"type": "array", "items": {"type": "string"},
                          "default": list(stack.DEFAULT_SERVICE_LABELS),
                          "description": "Label/tag keys naming the service, first present wins."}}),
    _s("stack-opt-outs", "advisory", "low", optouts.check_opt_outs_reported,
       "Every opt-out in use is listed with the rules it lifts and its reason (for the reviewer)."),
)

BY_NAME: dict[str, PolicyDef] = {p.name: p for p in POLICIES}


def run_resource_policy(policy: PolicyDef, resource_type: str, props: Mapping[str, Any],
                        ctx: Context | None = None) -> list[str]:
    """Run one resource policy with its schema defaults under the given config."""
    assert policy.resource_check is not None, f"{policy.name} is a stack policy"
    ctx = ctx or Context()
    merged = Context({**policy.defaults(), **ctx.config}, ctx.provider, ctx.ignore_changes)
    return policy.resource_check(resource_type, props, merged)


def run_stack_policy(policy: PolicyDef, resources: Sequence[Mapping[str, Any]],
                     config: Mapping[str, Any] | None = None) -> list[stack.Finding]:
    assert policy.stack_check is not None, f"{policy.name} is a resource policy"
    return policy.stack_check(resources, {**policy.defaults(), **(config or {})})


def markdown_table() -> str:
    """The README's policy table, generated from this list."""
    rows = ["| policy | level | scope | config | what it enforces |", "|---|---|---|---|---|"]
    for p in POLICIES:
        config = ", ".join(f"`{k}` ({v['default']!r})" for k, v in p.config.items()) or ""
        rows.append(f"| `{p.name}` | {p.level} | {'stack' if p.is_stack else 'resource'} | {config} "
                    f"| {p.description} |")
    return "\n".join(rows)
