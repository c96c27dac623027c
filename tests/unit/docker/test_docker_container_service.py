"""DockerContainerService under Pulumi mocks: the exact children, their names, the
hardened run options, content-hashed config/secret volumes, and a release swap.

The Docker provider cannot be built here and there is no Docker engine on this machine:
these tests prove what the component asks the engine for, not what an engine does."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pulumi
import pytest
from immutable_infra import ContainerServiceSpec, SpecError
from immutable_infra.docker import DockerContainerService, StackNetwork
from immutable_infra.docker import run_options as ro

from ..fixtures import IMAGE_A, IMAGE_B, IMAGE_C, SECRET_VALUE, service
from ..k8s_harness import Recorder, Registered, Result, run_program

CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/remoteImage:RemoteImage"
VOLUME = "docker:index/volume:Volume"
NETWORK = "docker:index/network:Network"
COMPONENT = "immutable:docker:ContainerService"
SCOPE = "immutable-example-dev"
"""``<project>-<stack>`` of the mocked program."""

SECRET_SIG = "4dabf18193072939515e22adb298388d"
"""Pulumi's wire signature of a secret value."""


def image_id(image: str) -> str:
    """What the mocked engine reports as the local id of a pulled image."""
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


@contextmanager
def engine_outputs() -> Iterator[None]:
    """The harness's recorder, plus the outputs a Docker engine computes: a pulled image's
    id and the host port Docker picks for a published port."""
    original = Recorder.new_resource

    def new_resource(self: Recorder, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        rid, outputs = original(self, args)
        if args.typ == IMAGE:
            outputs["imageId"] = image_id(args.inputs["name"])
        if args.typ == CONTAINER and args.inputs.get("ports"):
            outputs["ports"] = [{**p, "external": 32768 + i} for i, p in enumerate(args.inputs["ports"])]
        return rid, outputs

    with mock.patch.object(Recorder, "new_resource", new_resource):
        yield


class Options:
    """Resource options as the SDK saw them (the harness records parent and depends_on)."""

    def __init__(self) -> None:
        self.by_name: dict[str, pulumi.ResourceOptions] = {}

    def __call__(self, args: pulumi.ResourceTransformationArgs) -> None:
        self.by_name[args.name] = args.opts


def deploy(spec: dict[str, Any] | ContainerServiceSpec, kept: list[Any] | None = None, *,
           peers: list[dict[str, Any]] | None = None, options: Options | None = None, **kwargs: Any) -> Result:
    """One service (plus, when ``peers`` are given, a StackNetwork of it and them)."""
    kwargs.setdefault("exec_break_glass", True)

    def program() -> dict[str, Any]:
        if options is not None:
            pulumi.runtime.register_stack_transformation(options)
        network = StackNetwork("apps", {"services": [spec, *peers]}) if peers is not None else None
        svc = DockerContainerService("web", {"spec": spec, "previous": kept or [], **({"network": network} if network else {}),
                                           **kwargs})
        return {"release": svc.release, "active": svc.active_release, "kept": svc.kept_releases,
                "images": svc.images, "endpoint": svc.endpoint, "opt_outs": svc.opt_outs,
                "published": svc.published_endpoint, "adaptations": svc.adaptations}

    with engine_outputs():
        return run_program(program)


def rid(spec: dict[str, Any]) -> str:
    return ContainerServiceSpec.model_validate(spec).release


def containers(result: Result, role: str = "active") -> list[Registered]:
    return [c for c in result.of_type(CONTAINER) if labels(c).get(ro.LABEL_ROLE) == role]


def labels(res: Registered) -> dict[str, str]:
    return {item["label"]: item["value"] for item in res.inputs.get("labels", [])}


def release_owned(result: Result) -> set[str]:
    return {r.name for r in result.of_type(CONTAINER) if labels(r).get(ro.LABEL_ROLE) == "active"}


# --- 1. children, names, release id ---------------------------------------------------------


def test_children_are_exactly_these_and_parented_to_the_component() -> None:
    spec = service(strategy="blue-green")
    result = deploy(spec)
    r = rid(spec)
    parsed = ContainerServiceSpec.model_validate(spec)
    cfg, sec = ro.config_key(parsed), ro.secret_key(parsed)
    assert sorted((x.type, x.name) for x in result.resources) == sorted([
        (COMPONENT, "web"),
        (IMAGE, f"web-image-{r}"),
        (VOLUME, f"web-config-{cfg}"),
        (CONTAINER, f"web-config-{cfg}-seed"),
        (VOLUME, f"web-secret-{sec}"),
        (CONTAINER, f"web-secret-{sec}-seed"),
        (CONTAINER, f"web-{r}-0"),
        (CONTAINER, f"web-{r}-1"),
    ])
    assert all(x.parent == "web" for x in result.resources if x.type != COMPONENT)


def test_each_container_is_named_with_the_release_id_in_pulumi_and_in_docker() -> None:
    spec = service()
    result = deploy(spec)
    r = rid(spec)
    for index, c in enumerate(sorted(containers(result), key=lambda c: c.name)):
        assert c.name == f"web-{r}-{index}"
        assert c.inputs["name"] == f"{SCOPE}-apps-web-{r}-{index}"
        assert labels(c)[ro.LABEL_RELEASE] == r
    assert result.outputs["release"] == result.outputs["active"] == r


def test_image_is_pulled_by_digest_and_the_containers_run_that_pull() -> None:
    result = deploy(service())
    (image,) = result.of_type(IMAGE)
    assert image.inputs["name"] == IMAGE_A and "@sha256:" in image.inputs["name"]
    assert image.inputs["keepLocally"] is True
    assert {c.inputs["image"] for c in containers(result)} == {image_id(IMAGE_A)}


# --- 2. what makes a new release -------------------------------------------------------------

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


@pytest.mark.parametrize("strategy", ["rolling", "blue-green"])
@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_any_release_change_replaces_every_container(change: dict[str, Any], strategy: str) -> None:
    before = deploy(service(strategy=strategy))
    after = deploy(service(strategy=strategy, **change))
    assert before.outputs["release"] != after.outputs["release"]
    assert release_owned(before).isdisjoint(release_owned(after))
    assert all(after.outputs["release"] in c.inputs["name"] for c in containers(after))


def test_scale_is_container_count_and_changes_nothing_else() -> None:
    before = deploy(service(replicas=2))
    after = deploy(service(replicas=4))
    assert before.outputs["release"] == after.outputs["release"]
    assert before.names < after.names
    assert {c.name for c in containers(after)} - {c.name for c in containers(before)} == {
        f"web-{after.outputs['release']}-2", f"web-{after.outputs['release']}-3"}
    kept_before = {c.name: c.inputs for c in containers(before)}
    assert all(c.inputs == kept_before[c.name] for c in containers(after) if c.name in kept_before)
    assert not containers(deploy(service(replicas=0)))


def test_rolling_creates_one_container_after_the_other_blue_green_all_at_once() -> None:
    rolling = deploy(service(strategy="rolling", replicas=3))
    r = rolling.outputs["release"]
    assert f"web-{r}-1" in rolling.named(f"web-{r}-2").depends_on
    assert f"web-{r}-0" in rolling.named(f"web-{r}-1").depends_on
    green = deploy(service(strategy="blue-green", replicas=3))
    g = green.outputs["release"]
    assert not any(n.startswith(f"web-{g}-") for c in containers(green) for n in c.depends_on)


def test_every_container_waits_for_health_before_the_update_goes_on() -> None:
    for c in containers(deploy(service())):
        assert c.inputs["wait"] is True and c.inputs["waitTimeout"] >= ro.MIN_WAIT_SECONDS
        assert c.inputs["mustRun"] is True and c.inputs["restart"] == "unless-stopped"


# --- 3. config and secrets ---------------------------------------------------------------------


def test_config_and_secret_volumes_are_content_named_seeded_once_and_mounted_read_only() -> None:
    spec = service()
    result = deploy(spec)
    parsed = ContainerServiceSpec.model_validate(spec)
    cfg, sec = ro.config_key(parsed), ro.secret_key(parsed)
    config_seed = result.named(f"web-config-{cfg}-seed")
    assert config_seed.inputs["uploads"] == [{"file": "/seed/app.toml", "content": "port = 8080\n",
                                              "permissions": "0444"}]
    assert config_seed.inputs["start"] is False and config_seed.inputs["mustRun"] is False
    assert config_seed.inputs["networkMode"] == "none"
    assert config_seed.inputs["mounts"][0]["source"] == f"{SCOPE}-apps-web-config-{cfg}"
    for c in containers(result):
        mounts = {m["target"]: m for m in c.inputs["mounts"]}
        assert mounts["/etc/app"] == {"type": "volume", "source": f"{SCOPE}-apps-web-config-{cfg}",
                                      "target": "/etc/app", "readOnly": True}
        assert mounts["/var/run/secrets/app"]["source"] == f"{SCOPE}-apps-web-secret-{sec}"
        assert mounts["/var/run/secrets/app"]["readOnly"] is True
        assert {f"web-config-{cfg}-seed", f"web-secret-{sec}-seed"} <= set(c.depends_on)


def test_config_change_makes_a_new_volume_and_release() -> None:
    a = deploy(service())
    b = deploy(service(config_files=[{"name": "app.toml", "content": "port = 1\n"}]))
    assert {v.name for v in a.of_type(VOLUME) if "config" in v.name}.isdisjoint(
        {v.name for v in b.of_type(VOLUME) if "config" in v.name})
    assert a.outputs["release"] != b.outputs["release"]


def test_secret_values_stay_pulumi_secrets_and_never_name_or_label_anything() -> None:
    result = deploy(service())
    (seed,) = [s for s in containers(result, "seed") if "secret" in s.name]
    # Wrapped as a Pulumi secret: encrypted in state, masked in previews and logs.
    assert seed.inputs["uploads"][SECRET_SIG]
    assert seed.inputs["uploads"]["value"][0]["file"] == "/seed/db-password"
    for res in result.resources:
        visible = {k: v for k, v in res.inputs.items() if k != "uploads"}
        assert SECRET_VALUE not in res.name and SECRET_VALUE not in str(visible)
    assert SECRET_VALUE not in str(result.outputs)
    for c in containers(result):
        assert not any(e.startswith("db-password") for e in c.inputs["envs"])  # files, not env


def test_same_content_in_a_new_release_reuses_the_volumes_and_seeds() -> None:
    a = deploy(service(strategy="blue-green"))
    b = deploy(service(strategy="blue-green", image=IMAGE_B))
    content = {r.name for r in a.resources if r.type == VOLUME or "seed" in r.name}
    assert content == {r.name for r in b.resources if r.type == VOLUME or "seed" in r.name}


def test_seed_keeps_its_image_and_labels_and_containers_are_deleted_before_replaced() -> None:
    options = Options()
    result = deploy(service(), options=options)
    for seed in containers(result, "seed"):
        assert options.by_name[seed.name].ignore_changes == ["image", "labels"]
        assert not options.by_name[seed.name].delete_before_replace
    for c in containers(result):
        assert options.by_name[c.name].delete_before_replace is True


def test_state_is_outside_the_container_by_reference() -> None:
    result = deploy(service(state={"volumes": [{"claim_name": "web-data", "mount_path": "/data"}],
                                   "endpoints": [{"name": "DATABASE_URL", "url": "postgres://db.internal:5432/web"}]}))
    assert not [v for v in result.of_type(VOLUME) if "web-data" in v.name]  # never created or deleted here
    for c in containers(result):
        assert {"type": "volume", "source": "web-data", "target": "/data", "readOnly": False} in c.inputs["mounts"]
        assert "DATABASE_URL=postgres://db.internal:5432/web" in c.inputs["envs"]
    assert "state.volumes" in result.outputs["adaptations"]


# --- 4. kept releases, rollback ------------------------------------------------------------------


def test_kept_release_keeps_its_image_and_volumes_but_runs_no_container() -> None:
    spec = service(strategy="blue-green")
    old = service(strategy="blue-green", image=IMAGE_B, config_files=[{"name": "app.toml", "content": "old\n"}])
    result = deploy(spec, kept=[old])
    assert {i.inputs["name"] for i in result.of_type(IMAGE)} == {IMAGE_A, IMAGE_B}
    assert len([v for v in result.of_type(VOLUME) if "config" in v.name]) == 2
    assert all(rid(old) not in c.name for c in containers(result))
    assert result.outputs["kept"] == [rid(old)]
    assert result.outputs["images"] == {rid(spec): IMAGE_A, rid(old): IMAGE_B}


def test_keep_previous_bounds_the_kept_releases() -> None:
    kept = [service(image=i) for i in (IMAGE_B, IMAGE_C)]
    result = deploy(service(keep_previous=1), kept=kept)
    assert len(result.of_type(IMAGE)) == 2 and result.outputs["kept"] == [rid(kept[0])]


def test_rollback_creates_containers_from_what_is_already_there() -> None:
    new, old = service(strategy="blue-green", image=IMAGE_B), service(strategy="blue-green")
    before = deploy(new, kept=[old])
    after = deploy(old, kept=[new])
    pulled = {r.name for r in before.resources if r.type in (IMAGE, VOLUME) or "seed" in r.name}
    assert pulled == {r.name for r in after.resources if r.type in (IMAGE, VOLUME) or "seed" in r.name}
    assert {c.name for c in containers(after)} == {f"web-{rid(old)}-0", f"web-{rid(old)}-1"}
    assert after.outputs["release"] == rid(old) and after.outputs["kept"] == [rid(new)]


def test_blue_green_moves_the_service_aliases_with_the_active_release() -> None:
    api = service(name="api", strategy="blue-green", ports=[{"name": "http", "container_port": 8080}],
                  network={"ingress_from": [{"service": "web"}]})
    web = service(name="web", network={"egress_to": [{"service": "api"}]})

    def program() -> dict[str, Any]:
        net = StackNetwork("apps", {"services": [api, web]})
        DockerContainerService("api", {"spec": api, "network": net, "exec_break_glass": True})
        return {}

    result = run_program(program)
    for c in containers(result):
        (attached,) = c.inputs["networksAdvanced"]
        assert attached["name"] == f"{SCOPE}-apps-web-to-api"
        assert attached["aliases"] == ["api", "api.apps", "api.apps.svc", "api.apps.svc.cluster.local"]
        assert rid(api) in c.name
    assert "overlap" in deploy(service(strategy="blue-green")).outputs["adaptations"]["strategy"]


# --- 5. hardening ------------------------------------------------------------------------------------


def test_container_is_hardened_as_security_md_says() -> None:
    for c in containers(deploy(service())):
        i = c.inputs
        assert i["user"] == "10001:10001"
        assert i["readOnly"] is True and i["tmpfs"] == {"/tmp": ro.SCRATCH_TMPFS_OPTIONS}
        assert i["securityOpts"] == ["no-new-privileges:true"]
        assert i["capabilities"] == {"drops": ["ALL"]}
        assert i["privileged"] is False
        assert i.get("networkMode") != "host" and "pidMode" not in i and "ipcMode" not in i
        assert (i["memory"], i["memorySwap"], i["memoryReservation"], i["cpus"], i["cpuShares"]) == \
            (128, 128, 64, "0.5", 102)
        assert i["healthcheck"]["tests"][:3] == ["CMD", ro.PROBE_PATH, "http"] and "/ready" in i["healthcheck"]["tests"]
        assert "seccomp=unconfined" not in i["securityOpts"]


def test_seeds_never_run_and_record_why_their_root_is_writable() -> None:
    for seed in containers(deploy(service()), "seed"):
        i = seed.inputs
        assert i["start"] is False and i["networkMode"] == "none" and i["readOnly"] is False
        assert i["user"] == ro.SEED_USER and i["capabilities"] == {"drops": ["ALL"]} and i["privileged"] is False
        assert labels(seed)["immutable.dev/opt-out-writable-root-filesystem"] == "true"
        assert len(labels(seed)["immutable.dev/opt-out-reason-writable_root_filesystem"]) >= 10


def test_opt_outs_are_visible_as_labels_and_outputs() -> None:
    result = deploy(service(security={"run_as_user": 0, "run_as_group": 0, "opt_outs": {
        "run_as_root": {"reason": "legacy image needs root"},
        "writable_root_filesystem": {"reason": "writes its pid file to /run"},
        "privilege_escalation": {"reason": "uses a setuid helper binary"}}}))
    for c in containers(result):
        assert c.inputs["user"] == "0:0" and c.inputs["readOnly"] is False and c.inputs["securityOpts"] == []
        assert labels(c)["immutable.dev/opt-out-run-as-root"] == "true"
        assert labels(c)["immutable.dev/opt-out-reason-run_as_root"] == "legacy image needs root"
        assert c.inputs["capabilities"] == {"drops": ["ALL"]} and c.inputs["privileged"] is False
    assert result.outputs["opt_outs"] == ["exec_lock", "privilege_escalation", "run_as_root", "writable_root_filesystem"]


def test_exec_lock_is_refused_unless_accepted_and_then_recorded() -> None:
    with pytest.raises(SpecError) as err:
        deploy(service(), exec_break_glass=False)
    assert err.value.paths == ["security.opt_outs.exec_lock"]
    assert "docker exec" in str(err.value) and "exec_break_glass=True" in str(err.value)
    spec_opt_out = deploy(service(security={"opt_outs": {"exec_lock": {"reason": "local debugging only"}}}),
                          exec_break_glass=False)
    assert spec_opt_out.outputs["opt_outs"] == ["exec_lock"]
    glass = deploy(service(), exec_break_glass=True)
    assert glass.outputs["opt_outs"] == ["exec_lock"]
    assert all(labels(c)["immutable.dev/opt-out-exec-lock"] == "true" for c in containers(glass))


# --- 6. bad input registers nothing ----------------------------------------------------------------


def test_invalid_spec_registers_nothing_and_names_every_problem() -> None:
    caught: list[SpecError] = []

    def program() -> dict[str, Any]:
        bad = service(image="nginx:latest", network={"ingress_from": [{"namespace": "other"}], "allow_dns": False})
        try:
            DockerContainerService("web", {"spec": bad, "exec_break_glass": True})
        except SpecError as exc:
            caught.append(exc)
        try:
            DockerContainerService("web", {"spec": service(network={"ingress_from": [{"namespace": "other"}],
                                                                    "allow_dns": False})})
        except SpecError as exc:
            caught.append(exc)
        return {}

    result = run_program(program)
    assert result.resources == []
    # Every problem at once: the spec's own and Docker's, on the fields that did validate.
    assert caught[0].paths == ["image", "network.ingress_from[0].namespace", "network.allow_dns"]
    assert caught[1].paths == ["network.ingress_from[0].namespace", "network.allow_dns", "security.opt_outs.exec_lock"]
    assert "nothing was deployed" in str(caught[1])


def test_bad_kept_release_is_reported_with_its_index() -> None:
    with pytest.raises(SpecError) as err:
        DockerContainerService("web", {"spec": service(), "previous": [service(name="other")], "exec_break_glass": True})
    assert err.value.paths == ["previous[0].name"]


def test_secret_value_never_appears_in_an_error() -> None:
    with pytest.raises(SpecError) as err:
        DockerContainerService("web", {"spec": service(env={"DB_PASSWORD": SECRET_VALUE}), "exec_break_glass": True})
    assert SECRET_VALUE not in str(err.value)


# --- 7. outputs -----------------------------------------------------------------------------------------


def test_outputs() -> None:
    result = deploy(service())
    assert result.outputs["endpoint"] == "http://web.apps.svc.cluster.local:8080"
    assert result.outputs["images"] == {rid(service()): IMAGE_A}
    assert result.outputs["kept"] == [] and result.outputs["published"] is None
    assert set(result.outputs["adaptations"]) >= {"probes.liveness", "probes.readiness", "strategy"}
    assert deploy(service(expose={"service": False})).outputs["endpoint"] is None
