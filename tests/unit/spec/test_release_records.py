"""Exact releases: kept releases come from their records, whatever changed in the code.

Pure tests of ``immutable_infra.records`` + ``ledger`` (no engine): the change matrix on the
spec level. The same matrix runs on the real engine in tests/engine/test_exact_releases.py.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from immutable_infra import ContainerServiceSpec, SpecError
from immutable_infra.aws import ServerGroupSpec
from immutable_infra.ledger import WorkloadLedger
from immutable_infra.records import ReleaseArchive, ReleaseRecord, Releases, SecretStore, resolve_releases

from ..fixtures import IMAGE_A, IMAGE_B, service

V1, V2 = "first-secret-value-1", "rotated-secret-value-2"


class Stack:
    """One workload's ledger + archive + today's template, recorded the way `immutable-ops record` does."""

    def __init__(self, template: dict[str, Any], store: SecretStore | None = None) -> None:
        self.template = template
        self.store = store or SecretStore(versions={"db": {"v1": V1}})
        self.ledger = WorkloadLedger(releases=[{"artifact": IMAGE_A}])  # type: ignore[list-item]
        self.archive = ReleaseArchive(source="releases/dev.yaml")
        self.record()

    def spec(self, artifact: str) -> ContainerServiceSpec:
        data = copy.deepcopy(self.template)
        label, value = self.store.current("db") or (None, "")
        data["secrets"] = [{"name": "db-password", "value": value, "version": label}]
        return ContainerServiceSpec.model_validate({**data, "image": artifact})

    def resolve(self) -> Releases[ContainerServiceSpec]:
        return resolve_releases(ContainerServiceSpec, "web", self.ledger, self.archive, self.spec, self.store,
                                keep=lambda s: s.keep_previous, subject="ledger.web")

    def record(self) -> Releases[ContainerServiceSpec]:
        chosen = self.resolve()
        for rec in chosen.legacy:
            index = next(i for i, e in enumerate(self.ledger.releases) if e.release is None and e.artifact == rec.artifact)
            self.ledger = self.ledger.recorded(index, rec.release)
            self.archive.add("web", rec)
        if chosen.new:
            self.ledger = self.ledger.appended(chosen.new.artifact, release=chosen.new.release)
            self.archive.add("web", chosen.new)
        # Round-trip through YAML: what is read back is verified against its ids.
        self.archive = ReleaseArchive.from_data(__import__("yaml").safe_load(self.archive.dump("dev")),
                                                source="releases/dev.yaml")
        return chosen

    def ids(self) -> tuple[str, list[str]]:
        chosen = self.resolve()
        return chosen.active.release, [k.release for k in chosen.kept]


def _bg(**overrides: Any) -> dict[str, Any]:
    return service(strategy="blue-green", keep_previous=2, **overrides)


def _edit(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(template: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = template
        for part in parents:
            node = node[part]
        node[leaf] = value
    return apply


CHANGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "env": _edit("env", {"LOG_FORMAT": "json", "FEATURE": "on"}),
    "config": _edit("config_files", [{"name": "app.toml", "content": "port = 8080\nmax = 1\n"}]),
    "resources": _edit("resources.cpu_limit", "750m"),
    "probes": _edit("probes.readiness", {"http_get": {"path": "/ready"}, "period_seconds": 3}),
    "command": _edit("command", ["/bin/web", "--serve"]),
    "security": _edit("security", {"run_as_user": 20000, "run_as_group": 20000}),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_code_change_makes_exactly_one_new_release_and_keeps_the_one_that_ran(change: str) -> None:
    stack = Stack(_bg())
    stack.ledger = stack.ledger.appended(IMAGE_B)  # a second release, so there is a kept one
    stack.record()
    before_active, before_kept = stack.ids()
    before_records = {rid: stack.archive.get("web", rid) for rid in [before_active, *before_kept]}
    CHANGES[change](stack.template)
    active, kept = stack.ids()
    assert active not in before_records                     # exactly one new release ...
    assert kept == [before_active, *before_kept][:2]        # ... the one that ran is kept, nothing rebuilt
    chosen = stack.resolve()
    for spec in chosen.kept:                                 # kept releases are their records, exactly
        assert ReleaseRecord.of(spec, spec.image) == before_records[spec.release]
    assert [r.release for r in chosen.unrecorded] == [active]


def test_scale_and_retention_changes_keep_every_release_id() -> None:
    stack = Stack(_bg())
    stack.ledger = stack.ledger.appended(IMAGE_B)
    stack.record()
    before = stack.ids()
    stack.template.update(replicas=7, keep_mode="warm", rollout_timeout_seconds=120)
    assert stack.ids() == before and not stack.resolve().unrecorded
    stack.template["keep_previous"] = 0
    assert stack.ids() == (before[0], [])                  # only releases beyond keep_previous are retired
    assert stack.resolve().active.replicas == 7            # knobs come from today's config


def test_secret_rotation_is_a_new_release_and_kept_releases_keep_their_version() -> None:
    stack = Stack(_bg())
    old = stack.ids()[0]
    stack.store = SecretStore(versions={"db": {"v1": V1, "v2": V2}})
    chosen = stack.resolve()
    assert chosen.active.release != old and [k.release for k in chosen.kept] == [old]
    assert chosen.active.secrets[0].value.get_secret_value() == V2
    assert chosen.kept[0].secrets[0].value.get_secret_value() == V1   # the value it ran with
    assert "version:db@v1" in str(stack.archive.as_data()) and V1 not in stack.archive.dump("dev")


def test_a_kept_release_whose_secret_version_is_gone_is_refused_by_name() -> None:
    stack = Stack(_bg())
    stack.store = SecretStore(versions={"db": {"v2": V2}})
    with pytest.raises(SpecError) as caught:
        stack.resolve()
    assert "version:db@v1" in str(caught.value) and V2 not in str(caught.value)


def test_rollback_after_a_config_only_change_runs_the_old_config() -> None:
    stack = Stack(_bg())
    first = stack.ids()[0]
    CHANGES["config"](stack.template)
    stack.record()
    second, kept = stack.ids()
    assert kept == [first]
    stack.ledger = stack.ledger.pointed_at(first)            # immutable-ops rollback pins the exact release
    chosen = stack.resolve()
    assert chosen.active.release == first and [k.release for k in chosen.kept] == [second]
    assert chosen.active.config_files[0].content == "port = 8080\n"   # the old config, not today's
    assert not chosen.unrecorded


def test_promotion_runs_the_same_release_id_in_the_target_whatever_its_code_says() -> None:
    source = Stack(_bg())
    rid = source.ids()[0]
    target = Stack(_bg(env={"LOG_FORMAT": "text"}), store=SecretStore(versions={"db": {"v1": "other-env-value"}}))
    target.archive.add("web", source.archive.get("web", rid))  # type: ignore[arg-type]
    target.ledger = target.ledger.appended(IMAGE_A, release=rid, pin=True)
    chosen = target.resolve()
    assert chosen.active.release == rid and chosen.active.env == {"LOG_FORMAT": "json"}
    assert chosen.active.secrets[0].value.get_secret_value() == "other-env-value"  # same version label, its own value


def test_a_record_that_does_not_hash_to_its_id_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    stack = Stack(_bg())
    rid = stack.ids()[0]
    data = stack.archive.as_data()
    data["web"][rid]["settings"]["env"]["LOG_FORMAT"] = "edited-by-hand"
    path = tmp_path / "dev.yaml"
    path.write_text(__import__("yaml").safe_dump(data))
    with pytest.raises(SpecError) as caught:
        ReleaseArchive.load(path)
    assert caught.value.paths == [f"releases/dev.yaml: web.{rid}"]
    assert "do not hash to its id" in str(caught.value)


def test_a_ledger_entry_without_its_record_is_refused() -> None:
    stack = Stack(_bg())
    stack.archive = ReleaseArchive(source="releases/dev.yaml")
    with pytest.raises(SpecError) as caught:
        stack.ledger = stack.ledger.pointed_at(stack.ledger.releases[0].key)  # listed again, at [1]
        stack.resolve()
    assert caught.value.paths == ["ledger.web.releases[1].release"]


def test_legacy_entries_are_derived_from_the_code_and_reported_for_recording() -> None:
    stack = Stack(_bg())
    stack.ledger = WorkloadLedger.model_validate({"releases": [{"artifact": IMAGE_A}, {"artifact": IMAGE_B}]})
    chosen = stack.resolve()
    assert [r.artifact for r in chosen.legacy] == [IMAGE_B, IMAGE_A] and chosen.new is None
    stack.record()
    assert [e.release for e in stack.ledger.releases] == [chosen.kept[0].release, chosen.active.release]
    assert stack.ids() == (chosen.active.release, [chosen.kept[0].release])   # recording replaces nothing


def _group(**overrides: Any) -> dict[str, Any]:
    base = {"app": "legacy", "env": "dev", "instance_types": ["t3.small"], "port": 8080,
            "user_data": "#!/bin/bash\nsystemctl start app\n", "load_balancer": {"allowed_cidrs": ["10.0.0.0/8"]},
            "scaling": {"min_size": 1, "max_size": 2, "desired_capacity": 1}, "keep_previous": 1}
    return {**base, **overrides}


def test_server_group_kept_releases_come_from_records() -> None:
    template = _group()
    ledger = WorkloadLedger.model_validate({"releases": [{"artifact": "ami-0a1b2c3d4e5f60718"}]})
    archive = ReleaseArchive()
    store = SecretStore()

    def spec(ami: str) -> ServerGroupSpec:
        return ServerGroupSpec.model_validate({**template, "ami_id": ami})

    def resolve() -> Releases[ServerGroupSpec]:
        return resolve_releases(ServerGroupSpec, "legacy", ledger, archive, spec, store,
                                keep=lambda s: s.keep_previous, subject="ledger.legacy")

    first = resolve()
    archive.add("legacy", first.legacy[0])
    ledger = ledger.recorded(0, first.legacy[0].release)
    template["user_data"] = "#!/bin/bash\nsystemctl start app --fast\n"
    template["instance_types"] = ["t3.medium"]
    template["scaling"] = {"min_size": 3, "max_size": 6, "desired_capacity": 3}
    second = resolve()
    assert second.new is not None and [k.release for k in second.kept] == [first.active.release]
    kept = second.kept[0]
    assert kept.user_data == "#!/bin/bash\nsystemctl start app\n" and kept.instance_types == ["t3.small"]
    assert kept.scaling.min_size == 3                       # scale is not part of a release: today's knobs


def test_a_field_added_later_changes_no_release_id_while_at_its_default() -> None:
    """``security.opt_outs.env_not_secret`` came after releases were recorded: at its default it is
    left out of the hash (every recorded id still rebuilds); once used, it makes a new release."""
    from immutable_infra.release import release_fields

    spec = ContainerServiceSpec.model_validate(_bg())
    assert "env_not_secret" not in release_fields(spec)["security"]["opt_outs"]
    env = {"LOG_FORMAT": "json", "PASSWORD_POLICY_URL": "https://example.com/policy"}
    opted = ContainerServiceSpec.model_validate(_bg(env=env, security={"opt_outs": {"env_not_secret": {
        "PASSWORD_POLICY_URL": "a public URL whose name only looks like a secret"}}}))
    assert "env_not_secret" in release_fields(opted)["security"]["opt_outs"] and opted.release != spec.release


def test_release_env_is_opt_in_and_part_of_the_release() -> None:
    """A release deployed by the library before ``release_env`` existed keeps its id and its pod
    template (no IMMUTABLE_RELEASE, so an upgrade rolls no pod); turning it on is a new release
    whose every container is told its id, on Kubernetes and on Docker alike."""
    from immutable_infra.docker import run_options
    from immutable_infra.kubernetes import manifests
    from immutable_infra.release import release_fields

    def env_names(spec: ContainerServiceSpec) -> list[str]:
        k8s = [e["name"] for e in manifests.pod_template(spec, spec.release)["spec"]["containers"][0]["env"]]
        docker = [pair.split("=", 1)[0] for pair in run_options.env(spec, spec.release)]
        assert k8s == docker
        return k8s

    before = ContainerServiceSpec.model_validate(_bg())
    assert "release_env" not in release_fields(before) and "IMMUTABLE_RELEASE" not in env_names(before)
    told = ContainerServiceSpec.model_validate(_bg(release_env=True))
    assert told.release != before.release
    assert env_names(told)[-1] == "IMMUTABLE_RELEASE"
    assert manifests.pod_template(told, told.release)["spec"]["containers"][0]["env"][-1]["value"] == told.release
    assert ContainerServiceSpec.model_validate(_bg(release_env=False)).release == before.release  # explicit default
