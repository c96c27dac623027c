"""ContainerService on Kubernetes under Pulumi mocks: the exact children, their names,
the security-relevant inputs and the ordering of a release swap."""

from __future__ import annotations

from typing import Any

import pytest
from immutable_infra import ContainerServiceSpec
from immutable_infra.kubernetes import ContainerService
from immutable_infra.kubernetes import manifests as m

from ..fixtures import IMAGE_A, IMAGE_B, IMAGE_C, SECRET_VALUE, service
from ..k8s_harness import Registered, Result, run_program

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
VAP_BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"


def deploy(spec: dict[str, Any], kept: list[dict[str, Any]] | None = None, **kwargs: Any) -> Result:
    def program() -> dict[str, Any]:
        svc = ContainerService("web", {"spec": spec, "previous": kept or [], **kwargs})
        return {"release": svc.release, "kept": svc.kept_releases, "images": svc.images,
                "endpoint": svc.endpoint, "opt_outs": svc.opt_outs}

    return run_program(program)


def rid(spec: dict[str, Any]) -> str:
    return ContainerServiceSpec.model_validate(spec).release


def release_owned(result: Result) -> set[str]:
    return {r.name for r in result.resources if r.type in (DEPLOYMENT, CONFIG_MAP, SECRET)}


def container(dep: Registered) -> dict[str, Any]:
    containers: list[dict[str, Any]] = dep.inputs["spec"]["template"]["spec"]["containers"]
    return containers[0]


# --- 1. release id in names and labels ---------------------------------------------------


def test_children_are_exactly_these() -> None:
    spec = service(strategy="blue-green")
    result = deploy(spec)
    r = rid(spec)
    assert sorted((x.type, x.name) for x in result.resources) == sorted([
        ("immutable:kubernetes:ContainerService", "web"),
        ("kubernetes:core/v1:ServiceAccount", "web-sa"),
        (CONFIG_MAP, m.config_map_name(ContainerServiceSpec.model_validate(spec))),
        (SECRET, m.secret_name(ContainerServiceSpec.model_validate(spec))),
        (DEPLOYMENT, f"web-{r}"),
        (SERVICE, "web-svc"),
        ("kubernetes:policy/v1:PodDisruptionBudget", "web-pdb"),
        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "web-netpol"),
    ])  # no exec lock of its own: the namespace's covers it (tests/unit/kubernetes/test_namespace_exec_lock.py)
    assert all(x.parent == "web" for x in result.resources if x.type != "immutable:kubernetes:ContainerService")


def test_release_id_in_names_and_labels_of_everything_the_release_owns() -> None:
    spec = service(strategy="blue-green")
    result = deploy(spec)
    r = rid(spec)
    dep = result.named(f"web-{r}")
    assert dep.inputs["metadata"]["name"] == f"web-{r}"
    assert dep.inputs["metadata"]["labels"][m.LABEL_RELEASE] == r
    assert dep.inputs["spec"]["template"]["metadata"]["labels"][m.LABEL_RELEASE] == r
    for obj in result.of_type(CONFIG_MAP) + result.of_type(SECRET):
        assert obj.inputs["metadata"]["labels"][m.LABEL_RELEASE] == r
    assert result.outputs["release"] == r


# --- 2. what makes a new release ---------------------------------------------------------

CHANGES = {
    "image": {"image": IMAGE_B},
    "command": {"command": ["/bin/other"]},
    "env": {"env": {"LOG_FORMAT": "text"}},
    "config": {"config_files": [{"name": "app.toml", "content": "port = 9\n"}]},
    "secret": {"secrets": [{"name": "db-password", "value": "rotated-value"}]},
    "resources": {"resources": {"cpu_request": "100m", "cpu_limit": "1", "memory_request": "64Mi",
                                "memory_limit": "128Mi"}},
    "probes": {"probes": {"liveness": {"http_get": {"path": "/x"}}, "readiness": {"http_get": {"path": "/ready"}}}},
    "security": {"security": {"run_as_user": 12345}},
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_release_change_swaps_the_deployment_in_blue_green(change: dict[str, Any]) -> None:
    before = deploy(service(strategy="blue-green"))
    after = deploy(service(strategy="blue-green", **change))
    assert {d.name for d in before.of_type(DEPLOYMENT)} != {d.name for d in after.of_type(DEPLOYMENT)}
    assert before.outputs["release"] != after.outputs["release"]


def test_replicas_change_keeps_every_name_and_only_changes_replicas() -> None:
    before = deploy(service(strategy="blue-green", replicas=2))
    after = deploy(service(strategy="blue-green", replicas=5))
    assert before.names == after.names
    assert before.outputs["release"] == after.outputs["release"]
    (dep_before,), (dep_after,) = before.of_type(DEPLOYMENT), after.of_type(DEPLOYMENT)
    assert dep_before.inputs["spec"]["template"] == dep_after.inputs["spec"]["template"]
    assert (dep_before.inputs["spec"]["replicas"], dep_after.inputs["spec"]["replicas"]) == (2, 5)


# --- 3. immutable config objects -----------------------------------------------------------


def test_config_and_secret_are_immutable_content_named_and_created_first() -> None:
    spec = service(strategy="rolling")
    result = deploy(spec)
    (cm,), (secret,) = result.of_type(CONFIG_MAP), result.of_type(SECRET)
    assert cm.inputs["immutable"] is True and secret.inputs["immutable"] is True
    assert cm.inputs["data"] == {"app.toml": "port = 8080\n"}
    assert cm.name.startswith("web-config-") and secret.name.startswith("web-secret-")
    (dep,) = result.of_type(DEPLOYMENT)
    assert set(dep.depends_on) == {cm.name, secret.name}
    volumes = {v["name"]: v for v in dep.inputs["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == cm.name
    assert volumes["secrets"]["secret"]["secretName"] == secret.name


def test_config_change_makes_new_config_object_name() -> None:
    a = deploy(service())
    b = deploy(service(config_files=[{"name": "app.toml", "content": "port = 1\n"}]))
    assert {x.name for x in a.of_type(CONFIG_MAP)} != {x.name for x in b.of_type(CONFIG_MAP)}


def test_secret_name_is_a_fingerprint_not_the_value() -> None:
    result = deploy(service())
    (secret,) = result.of_type(SECRET)
    assert SECRET_VALUE not in secret.name
    # The value goes to the engine wrapped as a Pulumi secret (encrypted in state, masked in output).
    secret_sig = "4dabf18193072939515e22adb298388d"  # Pulumi's wire signature of a secret value
    assert secret.inputs["stringData"] == {secret_sig: "1b47061264138c4ac30d75fd1eb44270",
                                           "value": {"db-password": SECRET_VALUE}}


def test_kept_release_keeps_its_config_objects() -> None:
    kept = service(image=IMAGE_B, config_files=[{"name": "app.toml", "content": "old\n"}])
    result = deploy(service(strategy="blue-green"), kept=[{**kept, "strategy": "blue-green"}])
    assert len(result.of_type(CONFIG_MAP)) == 2


# --- 4. rolling ------------------------------------------------------------------------------


def test_rolling_is_one_deployment_with_max_unavailable_zero() -> None:
    result = deploy(service(strategy="rolling"), kept=[service(image=IMAGE_B)])
    (dep,) = result.of_type(DEPLOYMENT)
    assert dep.name == "web-deploy" and dep.inputs["metadata"]["name"] == "web"
    assert dep.inputs["spec"]["strategy"] == {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}
    assert "skipAwait" not in str(dep.inputs["metadata"])  # the provider's readiness await stays on


def test_rolling_image_change_updates_the_one_deployment_template_only() -> None:
    a = deploy(service(strategy="rolling"))
    b = deploy(service(strategy="rolling", image=IMAGE_B))
    (da,), (db,) = a.of_type(DEPLOYMENT), b.of_type(DEPLOYMENT)
    assert da.name == db.name
    assert container(da)["image"] == IMAGE_A and container(db)["image"] == IMAGE_B


# --- 5. blue-green ------------------------------------------------------------------------


def test_blue_green_service_selects_active_release_after_it_is_ready() -> None:
    spec = service(strategy="blue-green")
    kept = service(strategy="blue-green", image=IMAGE_B)
    result = deploy(spec, kept=[kept])
    active, old = rid(spec), rid(kept)
    svc = result.named("web-svc")
    assert svc.inputs["spec"]["selector"] == {m.LABEL_NAME: "web", m.LABEL_RELEASE: active}
    assert svc.depends_on == [f"web-{active}"]
    # Readiness is awaited on the active Deployment (no skipAwait there), so the Service's own
    # await (a fixed 10 s settle sleep) is skipped: the dependency above is the gate.
    assert svc.inputs["metadata"]["annotations"] == {m.SKIP_AWAIT: "true", **m.PATCH_FORCE}
    assert m.SKIP_AWAIT not in result.named(f"web-{active}").inputs["metadata"].get("annotations", {})
    assert result.named(f"web-{old}").inputs["spec"]["replicas"] == 0  # scaled to zero by default
    # ... and only after the Service has moved: no moment without ready endpoints.
    assert "web-svc" in result.named(f"web-{old}").depends_on
    assert result.named(f"web-{old}").inputs["metadata"]["labels"][m.LABEL_ROLE] == "kept"
    assert result.outputs["kept"] == [old]
    assert result.outputs["images"] == {active: IMAGE_A, old: IMAGE_B}


def test_warm_kept_release_keeps_its_replicas() -> None:
    result = deploy(service(strategy="blue-green", keep_mode="warm", replicas=3),
                    kept=[service(strategy="blue-green", image=IMAGE_B)])
    assert sorted(d.inputs["spec"]["replicas"] for d in result.of_type(DEPLOYMENT)) == [3, 3]
    assert not any(m.SKIP_AWAIT in str(d.inputs["metadata"]) for d in result.of_type(DEPLOYMENT))


def test_only_a_kept_release_scaled_to_zero_skips_the_providers_await() -> None:
    spec, kept = service(strategy="blue-green"), service(strategy="blue-green", image=IMAGE_B)
    result = deploy(spec, kept=[kept])
    old = result.named(f"web-{rid(kept)}")
    assert old.inputs["spec"]["replicas"] == 0
    assert old.inputs["metadata"]["annotations"][m.SKIP_AWAIT] == "true"
    assert m.SKIP_AWAIT not in old.inputs["spec"]["template"]["metadata"]["annotations"]  # no pod roll
    active = result.named(f"web-{rid(spec)}")
    assert m.SKIP_AWAIT not in active.inputs["metadata"].get("annotations", {})
    # Rolling back: the kept release becomes active again and is awaited before the Service moves.
    back = deploy(kept, kept=[spec])
    assert m.SKIP_AWAIT not in back.named(f"web-{rid(kept)}").inputs["metadata"].get("annotations", {})
    assert back.named(f"web-{rid(kept)}").inputs["spec"]["template"] == old.inputs["spec"]["template"]


def test_keep_previous_bounds_the_kept_releases() -> None:
    kept = [service(strategy="blue-green", image=i) for i in (IMAGE_B, IMAGE_C)]
    result = deploy(service(strategy="blue-green", keep_previous=1), kept=kept)
    assert len(result.of_type(DEPLOYMENT)) == 2
    assert result.outputs["kept"] == [rid(kept[0])]


def test_rollback_reuses_the_kept_deployment_with_the_same_template() -> None:
    """Pointing the ledger back at a kept release recreates nothing: same names, same pod template."""
    new, old = service(strategy="blue-green", image=IMAGE_B), service(strategy="blue-green")
    before = deploy(new, kept=[old])
    after = deploy(old, kept=[new])
    assert before.names == after.names
    old_dep = f"web-{rid(old)}"
    assert before.named(old_dep).inputs["spec"]["template"] == after.named(old_dep).inputs["spec"]["template"]
    assert after.named("web-svc").inputs["spec"]["selector"][m.LABEL_RELEASE] == rid(old)


def test_whole_release_is_swapped_as_one_unit() -> None:
    """pulumi/pulumi#17838: replace_on_changes on a component does not cascade. Here every
    release-owned child carries the release id in its Pulumi name, so a new release is new
    resources (created beside the old) and none of the old release's children is updated."""
    a = service(strategy="blue-green")
    b = service(strategy="blue-green", image=IMAGE_B, config_files=[{"name": "app.toml", "content": "v2\n"}],
                secrets=[{"name": "db-password", "value": "v2-secret"}])
    first, second = deploy(a), deploy(b)
    assert release_owned(first).isdisjoint(release_owned(second))
    assert all(rid(b) in d.name for d in second.of_type(DEPLOYMENT))


# --- 6. hardening ------------------------------------------------------------------------------


def test_pod_is_hardened_exactly_as_security_md_says() -> None:
    (dep,) = deploy(service()).of_type(DEPLOYMENT)
    pod = dep.inputs["spec"]["template"]["spec"]
    c = container(dep)
    assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == "web"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 10000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True, "privileged": False, "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"}}
    assert c["resources"]["limits"] == {"cpu": "500m", "memory": "128Mi"}
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert all(e["name"] != "db-password" for e in c["env"])  # secrets are files, not env
    scratch = [v for v in pod["volumes"] if "emptyDir" in v]
    assert scratch and any(mnt["mountPath"] == "/tmp" for mnt in c["volumeMounts"])


def test_pdb_and_network_policy() -> None:
    result = deploy(service(replicas=3, network={"ingress_from": [{"service": "api"}],
                                                 "egress_to": [{"cidr": "10.0.0.0/8", "ports": [5432]}]}))
    pdb = result.named("web-pdb")
    assert pdb.inputs["spec"]["maxUnavailable"] == 1
    policy = result.named("web-netpol").inputs["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {m.LABEL_NAME: "api"}}}]
    assert {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 5432, "protocol": "TCP"}]} in policy["egress"]


def test_single_replica_has_no_pdb() -> None:
    assert not deploy(service(replicas=1)).of_type("kubernetes:policy/v1:PodDisruptionBudget")


def test_opt_outs_are_visible_as_labels_annotations_and_outputs() -> None:
    result = deploy(service(security={"run_as_user": 0, "run_as_group": 0, "opt_outs": {
        "run_as_root": {"reason": "legacy image needs root"}}}))
    (dep,) = result.of_type(DEPLOYMENT)
    assert dep.inputs["metadata"]["labels"]["immutable.dev/opt-out-run-as-root"] == "true"
    assert dep.inputs["metadata"]["annotations"]["immutable.dev/opt-out-reason-run_as_root"] == \
        "legacy image needs root"
    assert container(dep)["securityContext"]["runAsNonRoot"] is False
    assert result.outputs["opt_outs"] == ["run_as_root"]


# --- 7. exec lock --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["spec", "environment"])
def test_break_glass_is_explicit_and_visible(how: str) -> None:
    if how == "spec":
        result = deploy(service(security={"opt_outs": {"exec_lock": {"reason": "incident 4711 debugging"}}}))
    else:
        result = deploy(service(), exec_break_glass=True)
    assert not result.of_type(VAP) and not result.of_type(VAP_BINDING)
    assert "exec_lock" in result.outputs["opt_outs"]
    (dep,) = result.of_type(DEPLOYMENT)
    assert dep.inputs["metadata"]["labels"]["immutable.dev/opt-out-exec-lock"] == "true"
    assert len(dep.inputs["metadata"]["annotations"]["immutable.dev/opt-out-reason-exec_lock"]) >= 10


# --- 8. outputs --------------------------------------------------------------------------------


def test_outputs() -> None:
    result = deploy(service())
    assert result.outputs["endpoint"] == "http://web.apps.svc.cluster.local:80"
    assert result.outputs["images"] == {rid(service()): IMAGE_A}
    assert result.outputs["kept"] == []


def test_ingress_with_tls_goes_to_the_service() -> None:
    result = deploy(service(expose={"ingress": {"hostname": "web.example.com", "tls_secret": "web-tls"}}))
    ingress = result.named("web-ingress")
    assert ingress.inputs["spec"]["tls"] == [{"hosts": ["web.example.com"], "secretName": "web-tls"}]
    assert ingress.depends_on == ["web-svc"]


def test_same_service_name_in_two_namespaces_gets_distinct_pulumi_names() -> None:
    def program() -> None:
        ContainerService("shop-web", {"spec": service(namespace="shop")})
        ContainerService("blog-web", {"spec": service(namespace="blog")})

    result = run_program(program)
    names = [r.name for r in result.resources]
    assert len(names) == len(set(names))
    assert {r.inputs["metadata"]["name"] for r in result.of_type(CONFIG_MAP)} == {
        m.config_map_name(ContainerServiceSpec.model_validate(service()))}


def test_rollout_timeout_bounds_the_wait_for_readiness() -> None:
    spec = service(strategy="blue-green", rollout_timeout_seconds=90)
    (dep,) = deploy(spec).of_type(DEPLOYMENT)
    assert dep.inputs["spec"]["progressDeadlineSeconds"] == 90
    assert rid(spec) == rid(service(strategy="blue-green"))  # not part of the release
