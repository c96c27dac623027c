"""A reference model of "which release serves, which are kept", and a stack driven like a user
drives one (edit the code or the ledger, ``immutable-ops record``, ``pulumi up``, ``rollback``,
``promote``), to compare the two after every step.

The model knows nothing of ledgers: it keeps the releases in the order they *served* (a
release that serves again moves to the end) and what the next deploy asks for. The rule it
states is the README's: the kept releases are the ones that served before the active one,
newest served first, up to ``keep_previous``. A failed or killed ``up`` serves nothing.

The stack side runs the library's own pieces: ``resolve_releases`` (the program's choice),
``publish_unrecorded`` + ``ops.record.plan`` (record), ``ops.rollback.plan``,
``ops.promote.plan``, and the components under Pulumi mocks (what is registered).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from immutable_infra import ContainerServiceSpec
from immutable_infra.aws import ServerGroupSpec
from immutable_infra.ledger import LedgerEntry, WorkloadLedger
from immutable_infra.ops import promote, record, rollback
from immutable_infra.ops.records import WorkloadState
from immutable_infra.records import (
    RECORDS_OUT_ENV,
    ReleaseArchive,
    ReleaseRecord,
    Releases,
    SecretStore,
    publish_unrecorded,
    resolve_releases,
)

Key = tuple[str, str, int]
"""What defines a release in the model: (artifact, code variant, secret version)."""


@dataclass
class Model:
    served: list[Key] = field(default_factory=list)
    """Releases in the order they served (each once, where it last started); the last serves."""
    want: Key | None = None
    """What the next successful update makes serve."""
    held: bool = False
    """After a rollback or a promotion the active release runs as recorded: code changes wait."""
    keep: int = 1

    def active(self) -> Key:
        return self.served[-1]

    def kept(self) -> list[Key]:
        return list(reversed(self.served[:-1]))[: self.keep]

    def served_now(self) -> None:
        """A successful update: ``want`` serves (moved to the end of the order)."""
        assert self.want is not None
        self.served = [k for k in self.served if k != self.want] + [self.want]


# --- targets: build a spec from a key, deploy under mocks, read what serves -------------------------

@dataclass(frozen=True)
class Observed:
    active: str
    kept: tuple[str, ...]
    routed: str
    """The release the traffic goes to (Service selector, active containers, ELB-attached group)."""
    owned: frozenset[str]
    """Releases that own running objects (Deployments, containers/volumes, auto scaling groups)."""
    artifacts: dict[str, str]


@dataclass(frozen=True)
class Target:
    name: str
    model: type[Any]
    artifacts: tuple[str, ...]
    spec: Callable[[Key, SecretStore, int, int], Any]
    """(key, secrets, replicas, keep_previous) -> spec."""
    deploy: Callable[[Any, list[Any]], Observed]
    secrets: bool = True


class Stack:
    """One workload of one stack, operated like a user would (with ``record`` before each ``up``)."""

    def __init__(self, target: Target, first: Key) -> None:
        self.target = target
        self.store = SecretStore(versions={"db": {"v1": "secret-value-1"}})
        self.archive = ReleaseArchive(source="releases/dev.yaml")
        self.code = first[1]
        self.replicas = 2
        self.keep = 1
        self.ledger = WorkloadLedger(releases=[LedgerEntry(artifact=first[0])])
        self.deployed: Observed | None = None

    # the code of the program (today's template) ---------------------------------------------------

    def secret_version(self) -> int:
        return max(int(v[1:]) for v in self.store.versions["db"])

    def spec_of(self, key: Key) -> Any:
        return self.target.spec(key, self.store, self.replicas, self.keep)

    def release_of(self, key: Key) -> str:
        return str(self.spec_of(key).release)

    def template(self, artifact: str) -> Any:
        return self.spec_of((artifact, self.code, self.secret_version()))

    def resolve(self) -> Releases[Any]:
        return resolve_releases(self.target.model, "web", self.ledger, self.archive, self.template, self.store,
                                keep=lambda s: int(s.keep_previous), subject="Pulumi.dev.yaml: immutable:ledger.web")

    # operations ---------------------------------------------------------------------------------------

    def state(self) -> dict[str, WorkloadState]:
        if self.deployed is None:
            return {}
        d = self.deployed
        return {"web": WorkloadState("web", d.routed, d.artifacts.get(d.routed), d.kept, d.artifacts)}

    def record(self) -> record.RecordPlan:
        """``immutable-ops record dev``: the program publishes, the plan edits ledger and archive."""
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "records.json"
            os.environ[RECORDS_OUT_ENV] = str(out)
            try:
                publish_unrecorded({"web": self.resolve()})
            finally:
                del os.environ[RECORDS_OUT_ENV]
            published = json.loads(out.read_text())
        plan = record.plan("dev", {"web": self.ledger}, self.archive, published, self.state())
        self.ledger = plan.after["web"]
        return plan

    def up(self, *, fails: bool = False) -> None:
        """``pulumi up``: refuses unrecorded releases (as the program does); a failed or killed
        update leaves what serves and what is kept as it was."""
        chosen = self.resolve()
        assert not chosen.unrecorded, f"up would run unrecorded releases: {chosen.unrecorded}"
        if fails:
            return
        self.deployed = self.target.deploy(chosen.active, chosen.kept)

    def deploy(self, *, fails: bool = False) -> None:
        self.record()
        self.up(fails=fails)

    def append(self, artifact: str) -> None:
        """A person appends an artifact to the ledger (the way to deploy a new image)."""
        self.ledger = WorkloadLedger(releases=[*self.ledger.releases, LedgerEntry(artifact=artifact)],
                                     active=self.ledger.active)

    def rollback(self, to: str | None) -> None:
        plan = rollback.plan("dev", self.state(), {"web": self.ledger}, to=to, workload="web")
        self.ledger = plan.after
        self.up()

    def promote_in(self, key: Key, *, fails: bool = False) -> None:
        """``immutable-ops promote other dev`` of the release ``key`` tested in another stack."""
        spec = self.spec_of(key)
        rec = ReleaseRecord.of(spec, key[0])
        source = {"web": WorkloadState("web", rec.release, key[0], (), {rec.release: key[0]})}
        source_ledger = {"web": WorkloadLedger(releases=[LedgerEntry(artifact=key[0], release=rec.release)])}
        source_archive = ReleaseArchive({"web": {rec.release: rec}})
        items = promote.plan("other", "dev", source, source_ledger, {"web": self.ledger}, ["web"],
                             source_archive=source_archive, target_state=self.state())
        for item in items:
            if item.record is not None:
                self.archive.add("web", item.record)
            self.ledger = item.after
        self.up(fails=fails)


# --- the three targets under Pulumi mocks ----------------------------------------------------------

def _container_spec(key: Key, store: SecretStore, replicas: int, keep: int) -> ContainerServiceSpec:
    from ..fixtures import service

    artifact, code, version = key
    return ContainerServiceSpec.model_validate(service(
        strategy="blue-green", image=artifact, keep_previous=keep, replicas=replicas,
        env={"LOG_FORMAT": "json", "VARIANT": code},
        secrets=[{"name": "db-password", "value": store.versions["db"][f"v{version}"], "version": f"db@v{version}"}]))


def _kubernetes(active: ContainerServiceSpec, kept: list[ContainerServiceSpec]) -> Observed:
    from immutable_infra.kubernetes import ContainerService
    from immutable_infra.kubernetes import manifests as m

    from ..k8s_harness import run_program

    def program() -> dict[str, Any]:
        svc = ContainerService("web", {"spec": active, "previous": kept})
        return {"release": svc.release, "kept": svc.kept_releases, "images": svc.images}

    result = run_program(program)
    selector = result.named("web-svc").inputs["spec"]["selector"][m.LABEL_RELEASE]
    owned = frozenset(d.inputs["metadata"]["labels"][m.LABEL_RELEASE]
                      for d in result.of_type("kubernetes:apps/v1:Deployment"))
    return Observed(result.outputs["release"], tuple(result.outputs["kept"]), selector, owned,
                    dict(result.outputs["images"]))


def _docker(active: ContainerServiceSpec, kept: list[ContainerServiceSpec]) -> Observed:
    from immutable_infra.docker import DockerContainerService
    from immutable_infra.docker import run_options as ro

    from ..docker.test_docker_container_service import CONTAINER, IMAGE, engine_outputs, labels
    from ..k8s_harness import run_program

    def program() -> dict[str, Any]:
        svc = DockerContainerService("web", {"spec": active, "previous": kept, "exec_break_glass": True})
        return {"release": svc.release, "kept": svc.kept_releases, "images": svc.images}

    with engine_outputs():
        result = run_program(program)
    serving = {labels(c)[ro.LABEL_RELEASE] for c in result.of_type(CONTAINER)
               if labels(c).get(ro.LABEL_ROLE) == "active"}
    assert len(serving) == 1, serving
    owned = frozenset(r.name.rsplit("-", 1)[-1] for r in result.of_type(IMAGE))
    return Observed(result.outputs["release"], tuple(result.outputs["kept"]), serving.pop(), owned,
                    dict(result.outputs["images"]))


def _server_group_spec(key: Key, store: SecretStore, replicas: int, keep: int) -> ServerGroupSpec:
    from ..aws_mocks import server_group_spec

    artifact, code, _ = key
    return ServerGroupSpec.model_validate(server_group_spec(
        ami_id=artifact, keep_previous=keep, user_data=f"#!/bin/bash\n# {code}\nsystemctl start web\n",
        scaling={"min_size": 1, "max_size": 6, "desired_capacity": replicas}))


def _server_group(active: ServerGroupSpec, kept: list[ServerGroupSpec]) -> Observed:
    from immutable_infra.aws import ServerGroup

    from ..aws_mocks import ASG, WIRING, run

    outputs = ("active_release", "kept_releases", "images")
    program = run(lambda: ServerGroup("web", {"spec": active, "previous": kept, **WIRING}), outputs=outputs)
    groups = [r for r in program.resources if r.type == ASG]
    routed = {r.name.rsplit("-", 1)[-1] for r in groups if r.inputs.get("targetGroupArns")}
    assert len(routed) == 1, routed
    owned = frozenset(r.name.rsplit("-", 1)[-1] for r in groups)
    return Observed(program.outputs["active_release"], tuple(program.outputs["kept_releases"]), routed.pop(), owned,
                    dict(program.outputs["images"]))


_IMAGES = tuple(f"registry.example.com/acme/web@sha256:{c * 64}" for c in "abcd")
_AMIS = ("ami-0123456789abcdef0", "ami-0fedcba9876543210", "ami-0aaaaaaaaaaaaaaaa", "ami-0bbbbbbbbbbbbbbbb")

TARGETS = {
    "kubernetes": Target("kubernetes", ContainerServiceSpec, _IMAGES, _container_spec, _kubernetes),
    "docker": Target("docker", ContainerServiceSpec, _IMAGES, _container_spec, _docker),
    "server-group": Target("server-group", ServerGroupSpec, _AMIS, _server_group_spec, _server_group, secrets=False),
}
