"""The serving-order model on the real CLI, in render mode (no cluster needed).

The state machine of tests/unit/ops/test_serving_order_model.py, with its reference model
(:class:`tests.unit.ops.serving_model.Model`), drives the real tools on a file backend: the
ledger edited with ``pulumi config set``, ``immutable-ops record``, ``pulumi up``,
``immutable-ops rollback`` (newest kept, or ``--to``), code and scale changes in the program's
``template.yaml``, ``keep_previous`` changes, and an update that fails after ``record``.
After every step the stack's state must match the model: the release the Service selects,
the kept releases, and the Deployments that exist. Each example is a fresh stack. Bounded: one
example with a fixed seed and one with a random seed (Hypothesis prints it on failure).

Promotions and a killed ``up`` run under mocks only (the unit test); here a promotion would
need a second deployed stack per example, doubling the engine time.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
from immutable_infra import ContainerServiceSpec, yaml_text
from immutable_infra.ops.records import RELEASE_LABEL, workloads_from_deployment

from ..ops.support import RawProgram, explain
from ..unit.ops.serving_model import Model

pytestmark = [pytest.mark.engine, pytest.mark.slow]

SECRETS = {"web-session-key": "session-key-value-one", "api-db-password": "db-password-value-one"}
CODES = ("a", "b", "c")
STACKS = itertools.count(1)


def image(version: str) -> str:
    return "registry.example.com/acme/web@sha256:" + hashlib.sha256(f"web-{version}".encode()).hexdigest()


IMAGES = tuple(image(v) for v in "1234")


class EngineStack:
    """One fresh stack of the `releases` program, operated through the real CLI."""

    def __init__(self, program: RawProgram, first: str) -> None:
        self.p = program
        self.name = f"s{next(STACKS)}"
        program.stack = self.name
        program.pulumi("stack", "init", self.name, "--secrets-provider", "passphrase")
        program.pulumi("config", "set", "--path", "immutable:environment.name", self.name, "-s", self.name)
        program.pulumi("config", "set", "--path", "immutable:environment.target", "render", "-s", self.name)
        for key, value in SECRETS.items():
            program.pulumi("config", "set", "--secret", "--path", f"immutable:secrets.{key}.v1", value, "-s", self.name)
        self.template = yaml.safe_load((program.dir / "template.yaml").read_text())
        self.code, self.replicas, self.keep = "a", 1, 1
        self.write_template()
        self.append("web", first)
        self.append("api", image("api"))

    def write_template(self) -> None:
        web = {**self.template["web"], "env": {"LOG_FORMAT": "json", "VARIANT": self.code},
               "replicas": self.replicas, "keep_previous": self.keep}
        (self.p.dir / "template.yaml").write_text(yaml_text.dump({**self.template, "web": web}, sort_keys=False))

    def release_of(self, key: tuple[str, str, int]) -> str:
        artifact, code, _ = key
        data = {**self.template["web"], "env": {"LOG_FORMAT": "json", "VARIANT": code}, "image": artifact}
        data["secrets"] = [{"name": "session-key", "value": SECRETS["web-session-key"], "version": "web-session-key@v1"}]
        data.pop("keep_previous", None)
        return ContainerServiceSpec.model_validate(data).release

    def ledger(self) -> dict[str, Any]:
        config = yaml.safe_load((self.p.dir / f"Pulumi.{self.name}.yaml").read_text())["config"]
        return dict(config.get("immutable:ledger") or {})

    def append(self, service: str, artifact: str) -> None:
        index = len(self.ledger().get(service, {}).get("releases", []))
        self.p.pulumi("config", "set", "--path", f"immutable:ledger.{service}.releases[{index}].artifact", artifact,
                      "-s", self.name)

    def record(self) -> None:
        proc = self.p.ops("record", self.name, "--format", "json")
        assert proc.returncode == 0, explain(proc)

    def up(self, *, fails: bool = False) -> None:
        if fails:
            self.p.env["RELEASES_TEST_FAIL_UP"] = "1"
        try:
            proc = self.p.pulumi("up", "--yes", "-s", self.name, check=not fails)
        finally:
            self.p.env.pop("RELEASES_TEST_FAIL_UP", None)
        assert not fails or proc.returncode != 0, "the update was to fail"

    def deploy(self, *, fails: bool = False) -> None:
        self.write_template()
        self.record()
        self.up(fails=fails)

    def rollback(self, to: str | None) -> None:
        proc = self.p.ops("rollback", self.name, "--service", "web", *(["--to", to] if to else []), "--format", "json")
        assert proc.returncode == 0, explain(proc)

    def observed(self) -> tuple[str, list[str], set[str]]:
        """(release the Service selects, kept releases, releases with a Deployment), from state."""
        deployment: dict[str, Any] = json.loads(self.p.pulumi("stack", "export", "-s", self.name).stdout)["deployment"]
        web = workloads_from_deployment(deployment)["web"]
        owned = {((r.get("outputs") or {}).get("metadata") or {}).get("labels", {}).get(RELEASE_LABEL)
                 for r in deployment.get("resources", [])
                 if r.get("type") == "kubernetes:apps/v1:Deployment" and "::web-" in r.get("urn", "")}
        return web.release, list(web.kept), {o for o in owned if o}


def machine(program: RawProgram) -> type[RuleBasedStateMachine]:
    class ServingOrderOnTheEngine(RuleBasedStateMachine):
        @initialize(artifact=st.sampled_from(IMAGES))
        def first_deploy(self, artifact: str) -> None:
            self.stack = EngineStack(program, artifact)
            self.model = Model(want=(artifact, "a", 1), keep=1)
            self.stack.deploy()
            self.model.served_now()

        def _deploy(self, fails: bool = False) -> None:
            self.stack.deploy(fails=fails)
            if not fails:
                self.model.served_now()

        @rule(artifact=st.sampled_from(IMAGES), fails=st.booleans())
        def new_image(self, artifact: str, fails: bool) -> None:
            self.stack.append("web", artifact)
            self.model.want, self.model.held = (artifact, self.stack.code, 1), False
            self._deploy(fails)

        @rule(code=st.sampled_from(CODES))
        def code_change(self, code: str) -> None:
            self.stack.code = code
            if not self.model.held and self.model.want is not None:
                self.model.want = (self.model.want[0], code, 1)
            self._deploy()

        @rule(keep=st.integers(0, 2), replicas=st.integers(1, 2))
        def keep_and_scale(self, keep: int, replicas: int) -> None:
            self.stack.keep = self.model.keep = keep
            self.stack.replicas = replicas
            self._deploy()

        @precondition(lambda self: bool(self.model.kept()))
        @rule(data=st.data())
        def rollback(self, data: st.DataObject) -> None:
            kept = self.model.kept()
            index = data.draw(st.integers(-1, len(kept) - 1), label="kept index (-1: no --to)")
            self.stack.rollback(None if index < 0 else self.stack.release_of(kept[max(index, 0)]))
            self.model.want, self.model.held = kept[max(index, 0)], True
            self.model.served_now()

        @invariant()
        def state_equals_the_model(self) -> None:
            if not hasattr(self, "stack"):
                return
            active, kept = self.stack.release_of(self.model.active()), [self.stack.release_of(k) for k in self.model.kept()]
            routed, seen_kept, owned = self.stack.observed()
            assert (routed, seen_kept) == (active, kept), f"ledger: {self.stack.ledger().get('web')}"
            assert owned == {active, *kept}

        def teardown(self) -> None:
            if hasattr(self, "stack"):
                program.pulumi("destroy", "--yes", "-s", self.stack.name, check=False)
                program.pulumi("stack", "rm", "--yes", "--force", self.stack.name, check=False)

    return ServingOrderOnTheEngine


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawProgram]:
    yield RawProgram.create("releases", tmp_path_factory.mktemp("serving"), stack="s0", config={})


@pytest.mark.parametrize(("derandomize", "steps"), [(True, 8), (False, 6)], ids=["fixed-seed", "random-seed"])
def test_kept_releases_are_the_ones_that_served_on_the_real_cli(program: RawProgram, derandomize: bool,
                                                                 steps: int) -> None:
    run_state_machine_as_test(machine(program), settings=settings(
        max_examples=1, stateful_step_count=steps, derandomize=derandomize, database=None, deadline=None,
        suppress_health_check=list(HealthCheck)))
