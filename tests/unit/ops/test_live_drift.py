"""Drift of live Kubernetes objects (components/ops/live.py, fieldsets.py, repair.py) on plain
objects shaped as the API server returns them, managedFields included. The real-node tests
(tests/cluster/test_drift_real.py) prove the same against a cluster."""

from __future__ import annotations

import copy
from typing import Any

from components.ops import fieldsets as fs
from components.ops.drift import field_rows, find
from components.ops.live import MASK, LiveResult, Target, compare
from components.ops.repair import REPAIR_LABEL, clean_copy, json_patch, plan

PULUMI = "pulumi-kubernetes-8d2f7a1c"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _deployment_declared(release: str = "1a2b3c4d") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"web-{release}", "namespace": "apps",
                         "labels": {"app.kubernetes.io/name": "web", "immutable.dev/release": release,
                                    "immutable.dev/role": "active"}},
            "spec": {"replicas": 2, "minReadySeconds": 0,
                     "selector": {"matchLabels": {"app.kubernetes.io/name": "web", "immutable.dev/release": release}},
                     "template": {"metadata": {"labels": {"app.kubernetes.io/name": "web",
                                                          "immutable.dev/release": release}},
                                  "spec": {"containers": [{"name": "web", "image": "r/web@sha256:aa",
                                                           "env": [{"name": "LOG_FORMAT", "value": "json"},
                                                                   {"name": "MODE", "value": "fast"}]}]}}}}


def _managed(manager: str, fields: dict[str, Any], operation: str = "Update", subresource: str | None = None) -> dict[str, Any]:
    entry = {"manager": manager, "operation": operation, "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
             "fieldsV1": fields}
    if subresource:
        entry["subresource"] = subresource
    return entry


def _live(declared: dict[str, Any], managed: list[dict[str, Any]]) -> dict[str, Any]:
    live = copy.deepcopy(declared)
    live["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "1"}
    live["metadata"]["managedFields"] = [
        _managed(PULUMI, {"f:spec": {"f:replicas": {}}}, "Apply"),
        _managed("kube-controller-manager", {"f:metadata": {"f:annotations": {
            ".": {}, "f:deployment.kubernetes.io/revision": {}}}}),
        _managed("kube-controller-manager", {"f:status": {"f:replicas": {}}}, subresource="status"),
        *managed]
    live["status"] = {"replicas": 2}
    return live


def _target(declared: dict[str, Any], kind: str = DEPLOYMENT) -> Target:
    meta = declared["metadata"]
    return Target(f"urn:pulumi:dev::p::immutable:kubernetes:ContainerService${kind}::{meta['name']}", kind,
                  meta.get("namespace"), meta["name"], declared, "web", "urn:provider::id")


ENV = {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"web"}': {"f:env": {
    'k:{"name":"INJECTED"}': {".": {}, "f:name": {}, "f:value": {}},
    'k:{"name":"LOG_FORMAT"}': {"f:value": {}}}}}}}}}


def test_field_sets_read_as_paths_at_their_shallowest_whole_node() -> None:
    paths = [fs.text(p) for p in fs.owned_paths(ENV)]
    assert paths == ["spec.template.spec.containers[name=web].env[name=INJECTED]",
                     "spec.template.spec.containers[name=web].env[name=LOG_FORMAT].value"]
    live = {"spec": {"ports": [{"port": 80, "protocol": "TCP", "name": "http"}]}}
    path = next(fs.owned_paths({"f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}}}}}))
    assert fs.resolve(live, path) == {"port": 80, "protocol": "TCP", "name": "http"}
    assert fs.text(next(fs.owned_paths({"f:metadata": {"f:labels": {"f:example.com/x": {}}}}))) == \
        'metadata.labels["example.com/x"]'


def test_fields_of_other_managers_are_reported_with_the_manager_controller_fields_are_not() -> None:
    declared = _deployment_declared()
    live = _live(declared, [_managed("kubectl-set", ENV)])
    env = live["spec"]["template"]["spec"]["containers"][0]["env"]
    env[0]["value"] = "text"
    env.append({"name": "INJECTED", "value": "1"})
    result = compare(_target(declared), live)
    assert [(f.path, f.kind, f.manager, f.declared, f.live) for f in result.fields] == [
        ("spec.template.spec.containers[name=web].env[name=INJECTED]", "added", "kubectl-set", None,
         {"name": "INJECTED", "value": "1"}),
        ("spec.template.spec.containers[name=web].env[name=LOG_FORMAT].value", "changed", "kubectl-set", "json", "text"),
    ]
    assert result.drifted


def test_a_clean_object_a_co_owner_with_the_same_value_and_defaults_are_no_drift() -> None:
    declared = _deployment_declared()
    same = _managed("kubectl-client-side-apply", {"f:spec": {"f:replicas": {}}})
    live = _live(declared, [same])
    live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = "/dev/termination-log"  # a default
    del live["spec"]["minReadySeconds"]  # zero: the API server omits it
    assert compare(_target(declared), live).fields == ()


def test_a_removed_declared_field_is_reported_without_a_manager() -> None:
    declared = _deployment_declared()
    live = _live(declared, [])
    del live["spec"]["template"]["spec"]["containers"][0]["env"][1]
    [f] = compare(_target(declared), live).fields
    assert (f.path, f.kind, f.manager, f.declared) == ("spec.template.spec.containers[name=web].env[name=MODE]",
                                                        "removed", "?", {"name": "MODE", "value": "fast"})


def test_secret_values_never_reach_a_report() -> None:
    declared = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-secret-1", "namespace": "apps"},
                "stringData": {"token": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                                         "ciphertext": "v1:abc"}}, "immutable": True}
    live = copy.deepcopy(declared)
    del live["stringData"]
    live["data"] = {"token": "c2VjcmV0", "extra": "aGVsbG8="}
    live["metadata"]["managedFields"] = [_managed("kubectl-edit", {"f:data": {"f:extra": {}}})]
    [f] = compare(_target(declared, "kubernetes:core/v1:Secret"), live).fields
    assert (f.path, f.kind, f.manager, f.live) == ("data.extra", "added", "kubectl-edit", MASK)
    assert "aGVsbG8" not in repr(f) and "c2VjcmV0" not in repr(f)


def test_a_gone_object_and_the_report_rows() -> None:
    declared = _deployment_declared()
    live = _live(declared, [_managed("kubectl-set", ENV)])
    live["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "INJECTED", "value": "1"})
    gone = _target(_deployment_declared("99999999"))
    report = find("dev", [], [compare(_target(declared), live), compare(gone, None)])
    assert [(d.name, d.state) for d in report.drifted] == [("web-1a2b3c4d", "changed"), ("web-99999999", "gone")]
    assert field_rows(report) == [["web-1a2b3c4d", "spec.template.spec.containers[name=web].env[name=INJECTED]",
                                   "added", "kubectl-set"]]
    assert report.as_dict()["drifted"][0]["fields"][0]["manager"] == "kubectl-set"
    assert "env[name=INJECTED] added by kubectl-set" in report.drifted[0].describe()


def _service(selected: str, extra_label: bool = False) -> LiveResult:
    declared = {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "web", "namespace": "apps", "labels": {"app.kubernetes.io/name": "web"}},
                "spec": {"selector": {"app.kubernetes.io/name": "web", "immutable.dev/release": selected}}}
    live = copy.deepcopy(declared)
    managed = []
    if extra_label:
        live["metadata"]["labels"]["team/x"] = "y"
        managed.append(_managed("kubectl-label", {"f:metadata": {"f:labels": {"f:team/x": {}}}}))
    live["metadata"]["managedFields"] = managed
    return compare(_target(declared, "kubernetes:core/v1:Service"), live)


def test_the_repair_plan_copies_the_serving_release_and_recreates_the_kept_one() -> None:
    active, kept = _deployment_declared("1a2b3c4d"), _deployment_declared("0f0f0f0f")
    drifted = [compare(_target(d), _live(d, [_managed("kubectl-set", ENV)])) for d in (active, kept)]
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config-1", "namespace": "apps"},
              "data": {"a": "b"}}
    gone_cm = compare(_target(config, "kubernetes:core/v1:ConfigMap"), None)
    service = _service("1a2b3c4d", extra_label=True)
    repair = plan([*drifted, gone_cm, service], ["urn:other"])
    assert [t.name for t in repair.active] == ["web-1a2b3c4d"]
    assert [t.name for t in repair.recreate] == ["web-0f0f0f0f"]
    assert [t.name for t in repair.gone] == ["web-config-1"]
    assert [r.target.name for r in repair.patch] == ["web"]
    assert repair.others == ("urn:other",)
    # The Service selecting the other release turns the roles round.
    assert [t.name for t in plan([*drifted, _service("0f0f0f0f")]).active] == ["web-0f0f0f0f"]
    # A selector moved by hand: the release it selects now and the one it is set back to both keep
    # their pods until their copies serve (recreating either in place would empty the Service).
    moved = _service("1a2b3c4d")
    live = copy.deepcopy(dict(moved.live or {}))
    live["spec"]["selector"]["immutable.dev/release"] = "0f0f0f0f"
    moved = compare(moved.target, live)
    assert [t.name for t in plan([*drifted, moved]).active] == ["web-1a2b3c4d", "web-0f0f0f0f"]
    assert plan([*drifted, moved]).recreate == ()


def test_the_clean_copy_is_the_declared_release_under_its_own_name_and_selector() -> None:
    declared = _deployment_declared()
    manifest = clean_copy(_target(declared))
    assert manifest["metadata"]["name"] == "web-1a2b3c4d-repair"
    labels = manifest["spec"]["template"]["metadata"]["labels"]
    assert labels == {"app.kubernetes.io/name": "web", "immutable.dev/release": "1a2b3c4d", REPAIR_LABEL: "1a2b3c4d"}
    assert manifest["spec"]["selector"]["matchLabels"][REPAIR_LABEL] == "1a2b3c4d"
    assert manifest["spec"]["template"]["spec"] == declared["spec"]["template"]["spec"]  # the release, unchanged
    assert declared["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "web",
                                                           "immutable.dev/release": "1a2b3c4d"}  # not mutated


def test_shared_objects_are_set_back_by_a_json_patch() -> None:
    assert json_patch(_service("1a2b3c4d", extra_label=True)) == [{"op": "remove", "path": "/metadata/labels/team~1x"}]
    declared = _deployment_declared()
    live = _live(declared, [_managed("kubectl-set", ENV)])
    env = live["spec"]["template"]["spec"]["containers"][0]["env"]
    env[0]["value"] = "text"
    env.append({"name": "INJECTED", "value": "1"})
    ops = json_patch(compare(_target(declared), live))
    assert ops == [{"op": "remove", "path": "/spec/template/spec/containers/0/env/2"},
                   {"op": "replace", "path": "/spec/template/spec/containers/0/env/0/value", "value": "json"}]


def test_a_copy_s_pods_are_not_counted_as_the_original_s() -> None:
    from components.ops.repair import _pod_of

    assert _pod_of("web-1a2b3c4d-5d8f7c9b4-abcde", "web-1a2b3c4d")
    assert not _pod_of("web-1a2b3c4d-repair-6f7d9c8b5-xyzab", "web-1a2b3c4d")
    assert _pod_of("web-1a2b3c4d-repair-6f7d9c8b5-xyzab", "web-1a2b3c4d-repair")
    assert not _pod_of("api-5d8f7c9b4-abcde", "web-1a2b3c4d")
