"""``parity``: dev, test and prod have one topology and differ only in allowed knobs (pure).

Three levels, each reporting *allowed* differences (knobs, artifacts) and *other* ones:

1. **config**: every ``Pulumi.<env>.yaml`` validates under ``EnvironmentConfig`` (so its
   ``immutable:environment`` holds knobs only); the ledgers list the same workloads (their
   artifacts may differ: promotion moves them); every other config key is present in every
   stack, with the same value unless it is a secret.
2. **topology** (from each stack's ``pulumi preview --json``): the same resources, by type
   and by name with release ids and content hashes taken out. A resource present in some
   stacks only must be explained by a knob (a PodDisruptionBudget exists only above one
   replica; AWS resources only where an ``aws`` target is named).
3. **inputs**: every resource's inputs are equal once release ids, content hashes,
   artifacts, the environment's name and the knobs' values (replicas, hostnames, group
   sizes) are taken out. Anything else is a parity error, printed with each stack's value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..environment import CONFIG_NAMESPACE, ENVIRONMENT_KEY, LEDGER_KEY, load_stack_config
from ..errors import SpecError
from .steps import ROLE_LABEL, Preview, Step, flatten, labels_of, path_under

HEX_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{8}(?![0-9a-f])")
ARTIFACT = re.compile(r"\S+@sha256:[0-9a-f]{64}|\bami-[0-9a-f]{8,17}\b")
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

KNOB_PATHS: dict[str, tuple[str, ...]] = {
    "replicas": ("spec.replicas", "spec.maxUnavailable", "spec.minAvailable"),
    "group sizes": ("minSize", "maxSize", "desiredCapacity"),
    "keep_previous": ('metadata.labels["immutable.dev/role"]', "spec.revisionHistoryLimit"),
    "rollout_timeout_seconds": ("spec.progressDeadlineSeconds",),
    # A Service as NodePort (the local cluster's address) with its exposed_service opt-out.
    "node_port": ("spec.type", "spec.ports[0].nodePort", 'metadata.labels["immutable.dev/opt-out-exposed-service"]',
                  'metadata.annotations["immutable.dev/opt-out-reason-exposed_service"]'),
}
"""Input paths a knob sets (values differing there are allowed)."""


@dataclass(frozen=True)
class Difference:
    level: str
    """``config``, ``topology`` or ``inputs``."""
    where: str
    what: str
    values: Mapping[str, str]
    """Stack -> value (``absent`` when the stack lacks it)."""
    allowed_by: str | None = None
    """The knob explaining it; ``None``: a parity error."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ParityReport:
    stacks: list[str]
    allowed: list[Difference] = field(default_factory=list)
    errors: list[Difference] = field(default_factory=list)

    def add(self, diff: Difference) -> None:
        (self.allowed if diff.allowed_by else self.errors).append(diff)

    def as_dict(self) -> dict[str, Any]:
        return {"stacks": self.stacks, "ok": not self.errors, "errors": [d.as_dict() for d in self.errors],
                "allowed": [d.as_dict() for d in self.allowed]}


def _is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and "secure" in value


def _show(value: Any) -> str:
    if isinstance(value, Mapping) and "secure" in value:
        return "<secret>"
    text = str(value)
    return text if len(text) <= 60 else text[:59] + "…"


# --- 1. config -------------------------------------------------------------------------------

def check_config(configs: Mapping[str, Mapping[str, Any]], report: ParityReport) -> None:
    """``configs``: stack -> the ``config:`` map of its ``Pulumi.<stack>.yaml``."""
    stacks = list(configs)
    prefix = f"{CONFIG_NAMESPACE}:"
    knobs: dict[str, dict[str, Any]] = {}
    ledgers: dict[str, set[str]] = {}
    for stack, config in configs.items():
        raw = {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}
        try:
            parsed = load_stack_config(stack, raw)
        except SpecError as exc:
            for problem in exc.problems:
                report.add(Difference("config", problem.path, f"{problem.message} (fix: {problem.fix})",
                                      {stack: str(problem.value)}))
            continue
        env = parsed.environment.model_dump(exclude={"name"}, exclude_defaults=True)
        knobs[stack] = {p: v for p, v in flatten(env).items() if p}
        ledgers[stack] = set(parsed.ledger)
    for path in sorted({p for k in knobs.values() for p in k}):
        values = {s: _show(knobs[s].get(path, "default")) for s in knobs}
        if len(set(values.values())) > 1:
            report.add(Difference("config", f"{prefix}{ENVIRONMENT_KEY}.{path}", "knob", values,
                                  allowed_by=f"EnvironmentConfig.{path.split('.')[0]}"))
    for name in sorted({n for names in ledgers.values() for n in names}):
        missing = [s for s in ledgers if name not in ledgers[s]]
        if missing:
            report.add(Difference("config", f"{prefix}{LEDGER_KEY}.{name}", "workload missing from a ledger",
                                  {s: "present" if s not in missing else "absent" for s in ledgers}))
    others = sorted({k for c in configs.values() for k in c if not k.startswith(prefix)})
    for key in others:
        values = {s: _show(configs[s][key]) if key in configs[s] else "absent" for s in stacks}
        present = [s for s in stacks if key in configs[s]]
        secret = all(_is_secret(configs[s][key]) for s in present)
        if len(present) != len(stacks):
            # A secret's value is per stack by nature and set by its operator; one not set yet is
            # not a topology difference (the program refuses to deploy without it).
            report.add(Difference("config", key, "secret not set in every stack" if secret else
                                  "config key not in every stack", values,
                                  allowed_by="per-stack secret" if secret else None))
        elif len(set(values.values())) > 1:
            report.add(Difference("config", key, "config value differs (only knobs may)", values))


# --- 2 and 3. topology and inputs ------------------------------------------------------------

def _normalize_text(text: str, env_name: str) -> str:
    text = ARTIFACT.sub("<artifact>", text)
    text = HEX_ID.sub("<id>", text)
    if env_name:
        # only as a name part (``legacy-dev-<id>``), never inside a domain (``immutable.dev/release``)
        text = re.sub(rf"(?<![A-Za-z0-9./]){re.escape(env_name)}(?![A-Za-z0-9./])", "<env>", text)
    return text


def _knob_values(config: Mapping[str, Any]) -> dict[str, str]:
    """String knob values to mask in inputs (hostnames), value -> knob name."""
    env = config.get(f"{CONFIG_NAMESPACE}:{ENVIRONMENT_KEY}") or {}
    out: dict[str, str] = {}
    for name, knobs in (env.get("services") or {}).items():
        if isinstance(knobs, Mapping) and isinstance(knobs.get("hostname"), str):
            out[knobs["hostname"]] = f"services.{name}.hostname"
    return out


def _key(step: Step, env_name: str) -> tuple[str, str]:
    return step.type, _normalize_text(step.name, env_name)


def _resources(preview: Preview, env_name: str) -> dict[tuple[str, str], Step]:
    """Resources by normalized key. Releases of one workload share a key (``web-<id>``); the
    active one stands for them (kept ones differ only in scale and role)."""
    out: dict[tuple[str, str], Step] = {}
    for step in preview.steps:
        if step.op in ("delete", "delete-replaced", "discard") or step.type == "pulumi:pulumi:Stack":
            continue
        key = (step.type, "<provider>") if step.type.startswith("pulumi:providers:") else _key(step, env_name)
        if key not in out or (_role(out[key]) != "active" and _role(step) == "active"):
            out[key] = step
    return out


def _role(step: Step) -> str | None:
    return labels_of(step.inputs()).get(ROLE_LABEL)


def _presence_knob(key: tuple[str, str], have: Sequence[str], lack: Sequence[str],
                   configs: Mapping[str, Mapping[str, Any]]) -> str | None:
    rtype, name = key
    envs = {s: configs[s].get(f"{CONFIG_NAMESPACE}:{ENVIRONMENT_KEY}") or {} for s in configs}
    if rtype.endswith(":PodDisruptionBudget") and name.endswith("-pdb"):
        service = name[: -len("-pdb")]
        replicas = {s: ((envs[s].get("services") or {}).get(service) or {}).get("replicas") for s in envs}
        if all((replicas[s] or 0) > 1 for s in have) and all((replicas[s] or 0) <= 1 for s in lack):
            return f"services.{service}.replicas"
    aws_only = all(envs[s].get("aws") for s in have) and not any(envs[s].get("aws") for s in lack)
    if rtype.startswith(("aws:", "pulumi:providers:aws", "immutable:aws:")) and aws_only:
        return "aws (target)"
    return None


def check_topology(previews: Mapping[str, Preview], configs: Mapping[str, Mapping[str, Any]],
                   report: ParityReport) -> None:
    stacks = list(previews)
    env_names = {s: str(((configs.get(s) or {}).get(f"{CONFIG_NAMESPACE}:{ENVIRONMENT_KEY}") or {}).get("name", s))
                 for s in stacks}
    resources = {s: _resources(previews[s], env_names[s]) for s in stacks}
    keys = sorted({k for r in resources.values() for k in r})
    for key in keys:
        have = [s for s in stacks if key in resources[s]]
        if len(have) != len(stacks):
            lack = [s for s in stacks if s not in have]
            knob = _presence_knob(key, have, lack, configs)
            report.add(Difference("topology", f"{key[1]} ({key[0]})", "resource not in every stack",
                                  {s: "present" if s in have else "absent" for s in stacks}, allowed_by=knob))
            continue
        if key[1] == "<provider>":
            continue  # provider settings are the target knob
        _compare_inputs(key, {s: resources[s][key] for s in stacks}, env_names, configs, report)


def _compare_inputs(key: tuple[str, str], steps: Mapping[str, Step], env_names: Mapping[str, str],
                    configs: Mapping[str, Mapping[str, Any]], report: ParityReport) -> None:
    flat: dict[str, dict[str, str]] = {}
    for stack, step in steps.items():
        masks = _knob_values(configs.get(stack) or {})
        values: dict[str, str] = {}
        for path, value in flatten(dict(step.inputs())).items():
            if path.startswith("__") or value == UNKNOWN:
                continue
            text = value if isinstance(value, str) else repr(value)
            for knob_value, knob_name in masks.items():
                text = text.replace(knob_value, f"<{knob_name}>")
            values[_normalize_text(path, env_names[stack])] = _normalize_text(text, env_names[stack])
        flat[stack] = values
    for path in sorted({p for v in flat.values() for p in v}):
        values = {s: flat[s].get(path, "absent") for s in steps}
        if len(set(values.values())) <= 1:
            continue
        knob = next((k for k, paths in KNOB_PATHS.items() if path_under(path, paths)), None)
        report.add(Difference("inputs", f"{key[1]} ({key[0].rsplit(':', 1)[-1]})", path,
                              {s: _show(v) for s, v in values.items()}, allowed_by=knob))


# --- 4. releases ------------------------------------------------------------------------------

def check_releases(ledgers: Mapping[str, Mapping[str, Any]], running: Mapping[str, Mapping[str, Any]],
                   report: ParityReport) -> None:
    """Exact releases across stacks.

    ``ledgers``: stack -> workload -> ``WorkloadLedger``; ``running``: stack -> workload ->
    ``WorkloadState`` (from state) for the stacks that have been deployed.

    - A stack must run the release its ledger names (a recorded active entry): otherwise its
      state and its reviewed ledger disagree.
    - The same ledger entry (artifact) must be the same release id in every stack that runs it:
      otherwise it was rebuilt from other code instead of promoted (``immutable-ops promote``).
    """
    by_artifact: dict[tuple[str, str], dict[str, str]] = {}
    for stack, workloads in running.items():
        for name, state in workloads.items():
            ledger = ledgers.get(stack, {}).get(name)
            entry = ledger.active_entry if ledger is not None else None
            if entry is not None and entry.release and entry.release != state.release:
                report.add(Difference("releases", f"{stack}: {name}", "runs a different release than its ledger names",
                                      {stack: f"runs {state.release}, ledger {entry.release}"}))
            if state.artifact:
                by_artifact.setdefault((name, state.artifact), {})[stack] = state.release
    for (name, artifact), ids in sorted(by_artifact.items()):
        if len(set(ids.values())) > 1:
            report.add(Difference("releases", f"{name} {artifact.rsplit('@', 1)[-1][:19]}",
                                  "same artifact, different release ids (rebuilt, not promoted)", dict(ids)))
