"""Running the Pulumi engine for a project: the Automation API, and the CLI where the API has
no call (``preview --json``, ``stack export``). Nothing here edits the ledger.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .backend import HISTORY, open_store
from .errors import ExitCode, OpsError
from .pulumi_login import effective_backend as effective_backend
from .records import (
    RefreshRecord,
    UpdateRecord,
    WorkloadState,
    number_updates,
    parse_ledger_config,
    workloads_from_deployment,
)

if TYPE_CHECKING:
    from pulumi import automation as auto

from .project_env import LEDGER_CONFIG as LEDGER_CONFIG
from .project_env import ProjectEnvironment

OnOutput = Callable[[str], None]


@dataclass
class UpOutcome:
    seconds: float
    """Wall-clock seconds of the whole ``up`` as this tool measured it."""
    outputs: dict[str, Any]
    summary: Mapping[str, int]
    result: str


def _pulumi_root(env: Mapping[str, str]) -> str | None:
    """Directory whose ``bin/pulumi`` the Automation API should run (``None``: from PATH)."""
    found = shutil.which("pulumi", path=env.get("PATH"))
    if found is None:
        raise OpsError("the pulumi CLI is not on PATH", ExitCode.PULUMI_FAILED,
                       hint="install it, or in this repository build it: python3 toolchain/build.py")
    binary = Path(found).resolve() if Path(found).is_symlink() else Path(found)
    return str(binary.parent.parent) if binary.parent.name == "bin" else None


@dataclass
class EngineRunner(ProjectEnvironment):
    """The engine's side of a project: stacks, previews, updates, refreshes, exports, history."""

    _command: auto.PulumiCommand | None = None
    _stacks: dict[str, auto.Stack] = field(default_factory=dict)

    def _require_backend(self) -> None:
        if self.backend_url() is None:
            raise OpsError("no state backend chosen: PULUMI_BACKEND_URL is not set and `pulumi login` has not "
                           "been run, so the CLI would fall back to the Pulumi Cloud", ExitCode.BAD_INPUT,
                           hint="set PULUMI_BACKEND_URL (file:///dir, s3://bucket?region=..., "
                                "https://api.pulumi.com) or run `pulumi login <url>`")

    @property
    def command(self) -> auto.PulumiCommand:
        if self._command is None:
            from pulumi import automation as auto

            self._require_backend()
            self._command = auto.PulumiCommand(root=_pulumi_root(self.env), skip_version_check=True)
        return self._command

    def stack(self, name: str) -> auto.Stack:
        """The stack through the Automation API; it must have state in the backend."""
        self.require_stack(name)
        if name in self._stacks:
            return self._stacks[name]
        from pulumi import automation as auto

        opts = auto.LocalWorkspaceOptions(work_dir=str(self.dir), env_vars=self.env, pulumi_command=self.command)
        try:
            stack = auto.select_stack(stack_name=name, work_dir=str(self.dir), opts=opts)
        except auto.StackNotFoundError:
            raise OpsError(f"stack {name!r} has no state in the backend ({self.backend_url() or 'default'})",
                           hint=f"deploy it first (pulumi stack init {name}; pulumi up -s {name})") from None
        except auto.CommandError as exc:
            raise _engine_error(f"cannot select stack {name!r}", exc) from None
        self._stacks[name] = stack
        return stack

    def has_state(self, name: str) -> bool:
        try:
            self.stack(name)
        except OpsError:
            return False
        return True

    def run(self, args: Sequence[str], *, on_output: OnOutput | None = None) -> tuple[int, str, str]:
        """Run ``pulumi <args>`` in the project; returns (exit code, stdout, stderr) without raising.

        A plain subprocess, as the Automation API would start it (non-interactive, the project's
        env), without importing the SDK: a quarter of a second that every command, and a
        rollback before its traffic moves, would spend on imports."""
        self._require_backend()
        root = _pulumi_root(self.env)
        cmd = [str(Path(root) / "bin" / "pulumi") if root else "pulumi", "--non-interactive", *args]
        env = {**os.environ, **self.env, "PULUMI_AUTOMATION_API": "true"}
        if root:  # as the Automation API does: the CLI's own directory first (its plugins beside it)
            env["PATH"] = os.pathsep.join([str(Path(root) / "bin"), env.get("PATH", "")])
        if args and args[0] == "preview":
            # Pulumi 3.274+ runs a preview through the snapshot manager too and serializes the whole
            # state after every step, into a persister that discards it: CPU quadratic in the
            # stack's size (3.4x at 100 services, docs/measurements.md). A preview writes no state,
            # so one serialization at the end loses nothing. Updates keep their checkpoints.
            env["PULUMI_SKIP_CHECKPOINTS"] = "true"
        proc = subprocess.Popen(cmd, cwd=self.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        err: list[str] = []
        reader = threading.Thread(target=lambda: err.extend(proc.stderr or []), daemon=True)
        reader.start()
        out: list[str] = []
        for line in proc.stdout or []:
            out.append(line.rstrip("\n"))
            if on_output is not None:
                on_output(out[-1])
        code = proc.wait()
        reader.join()
        return code, "\n".join(out), "".join(err)

    def backend_url(self) -> str | None:
        return effective_backend(self.env)

    def preview_json(self, stack: str, *, on_output: OnOutput | None = None) -> dict[str, Any]:
        """``pulumi preview --json``; raises ``OpsError(PULUMI_FAILED)`` naming the engine's errors."""
        self.stack(stack)
        self.check_ledger(stack)
        code, stdout, stderr = self.run(["preview", "--json", "--show-sames", "--stack", stack], on_output=on_output)
        try:
            data: dict[str, Any] = json.loads(stdout) if stdout.strip() else {}
        except ValueError:
            data = {}
        if code != 0:
            errors = [str(d.get("message", "")).strip() for d in data.get("diagnostics", []) if d.get("severity") == "error"]
            raise OpsError(f"pulumi preview of {stack!r} failed", ExitCode.PULUMI_FAILED,
                           details="\n".join(errors) or stderr.strip()[-2000:])
        return data

    def export(self, stack: str) -> dict[str, Any]:
        """The stack's current deployment (secrets stay encrypted: no passphrase needed)."""
        data: dict[str, Any] = self.export_state(stack).get("deployment") or {}
        return data

    def export_state(self, stack: str) -> dict[str, Any]:
        """The whole ``stack export`` document (its ``version`` beside the deployment), as
        ``stack import`` takes it back.

        Straight to ``stack export`` (no Automation API select first: a third of a second that a
        rollback spends before the traffic moves); a stack without state gets ``stack()``'s error."""
        self.require_stack(stack)
        code, stdout, stderr = self.run(["stack", "export", "--stack", stack])
        if code != 0:
            self.stack(stack)  # raises the plain "has no state in the backend" when that is the cause
            raise OpsError(f"pulumi stack export of {stack!r} failed", ExitCode.PULUMI_FAILED, details=stderr[-2000:])
        state: dict[str, Any] = json.loads(stdout)
        return state

    def outputs(self, stack: str) -> dict[str, Any]:
        return stack_outputs(self.export(stack))

    def workloads(self, stack: str) -> dict[str, WorkloadState]:
        """What each workload runs, read from the resources in state (see ``workloads_from_deployment``)."""
        return workloads_from_deployment(self.export(stack))

    def check_ledger(self, stack: str) -> None:
        """Refuse to go on when ``Pulumi.<stack>.yaml``'s ledger lacks a release the stack runs
        (a merge dropped another change's entry): see ``ledger_check.py``."""
        from .ledger_check import require_covered

        require_covered(stack, self.outputs(stack), self.ledger(stack), config_file=self.config_file(stack).name)

    def up(self, stack: str, message: str, *, replace: Sequence[str] = (), on_output: OnOutput | None = None) -> UpOutcome:
        from pulumi import automation as auto

        handle = self.stack(stack)
        self.check_ledger(stack)
        start = time.monotonic()
        try:
            result = handle.up(message=message, replace=list(replace) or None, on_output=on_output, color="never")
        except auto.CommandError as exc:
            raise _engine_error(f"pulumi up of {stack!r} failed", exc) from None
        seconds = time.monotonic() - start
        outputs = {k: v.value for k, v in result.outputs.items()}
        return UpOutcome(seconds, outputs, _op_counts(result.summary.resource_changes), result.summary.result)

    def refresh_preview(self, stack: str, *, on_output: OnOutput | None = None) -> tuple[list[RefreshRecord], str | None]:
        """``refresh --preview-only --expect-no-changes``: what the real world holds, per resource.

        Returns the records and, when the engine failed for another reason than drift, its error."""
        from pulumi import automation as auto

        handle = self.stack(stack)
        records: dict[str, RefreshRecord] = {}

        def on_event(event: Any) -> None:
            outs = getattr(event, "res_outputs_event", None)
            if outs is None:
                return
            meta = outs.metadata
            op = getattr(meta.op, "value", str(meta.op)).lower()
            state = meta.new or meta.old
            records[meta.urn] = RefreshRecord(
                op=op, urn=meta.urn, type=meta.type, custom=bool(state.custom) if state is not None else True,
                old_outputs=dict((meta.old.outputs or {}) if meta.old else {}),
                new_outputs=dict((meta.new.outputs or {}) if meta.new else {}),
            )

        error: str | None = None
        try:
            handle.preview_refresh(expect_no_changes=True, on_event=on_event, on_output=on_output, color="never")
        except auto.CommandError as exc:
            text = str(exc)
            if "no changes were expected" not in text:
                error = text.split("\n stderr: ", 1)[-1].strip()[-3000:]
        return list(records.values()), error

    def unrecorded(self, stack: str, *, on_output: OnOutput | None = None) -> dict[str, Any]:
        """Run the program in a preview and collect the releases it has no record of
        (see ``immutable_infra.records.publish_unrecorded``)."""
        import tempfile

        from ..records import RECORDS_OUT_ENV

        code, _, stderr = self.run(["stack", "select", "--create", stack])
        if code != 0:
            raise OpsError(f"cannot select or create stack {stack!r}", ExitCode.PULUMI_FAILED, details=stderr[-2000:])
        with tempfile.TemporaryDirectory(prefix="immutable-records-") as tmp:
            out = Path(tmp) / "records.json"
            saved = dict(self.env)
            self.env[RECORDS_OUT_ENV] = str(out)
            try:
                code, stdout, stderr = self.run(["preview", "--stack", stack, "--non-interactive", "--color", "never"],
                                                on_output=on_output)
            finally:
                self.env.clear()
                self.env.update(saved)
            if code != 0:
                raise OpsError(f"pulumi preview of {stack!r} failed", ExitCode.PULUMI_FAILED,
                               details=engine_errors(stdout, stderr))
            if not out.is_file():
                raise OpsError(f"the program of {stack!r} published no releases",
                               hint="call immutable_infra.records.publish_unrecorded() from the program")
            data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
            return data

    def history(self, stack: str) -> list[UpdateRecord]:
        """Every update of the stack, oldest first, with the ledger it ran with and (file
        backend) the outputs it left."""
        from pulumi import automation as auto

        handle = self.stack(stack)
        try:
            summaries = handle.history()
        except auto.CommandError as exc:
            raise _engine_error(f"pulumi stack history of {stack!r} failed", exc) from None
        checkpoints = self._checkpoints(stack)
        records = []
        for summary in reversed(summaries):  # the API lists newest first
            start = _utc(summary.start_time)
            end = _utc(summary.end_time) if summary.end_time else None
            ledger_value = summary.config.get(LEDGER_CONFIG)
            outputs = checkpoints.pop((summary.kind, int(start.timestamp())), None)
            records.append(UpdateRecord(
                number=0, kind=summary.kind, start=start, end=end, result=summary.result,
                message=summary.message or "", ledger=parse_ledger_config(ledger_value.value if ledger_value else None),
                outputs=outputs, resource_changes=_op_counts(summary.resource_changes),
                environment=dict(summary.environment or {}),
            ))
        return number_updates(records)

    def _checkpoints(self, stack: str) -> dict[tuple[str, int], dict[str, Any]]:
        """A DIY backend keeps the checkpoint each update left next to its history entry
        (``.pulumi/history/<project>/<stack>/<stack>-<time>.{history,checkpoint}.json``); the
        CLI cannot export old versions from it ("does not provide the ability to export
        previous deployments"), so they are read from the directory or bucket (see
        ``backend.py``). Keyed by (kind, start second); empty for backends not read here."""
        store = open_store(self.backend_url(), self.env)
        found: dict[tuple[str, int], dict[str, Any]] = {}
        if store is None:
            return found
        keys: list[str] = []
        for prefix in (f"{HISTORY}/{self.name}/{stack}/", f"{HISTORY}/{stack}/"):
            keys = store.keys(prefix)
            if keys:
                break
        present = set(keys)
        for key in keys:
            if not (key.endswith(".history.json") or key.endswith(".history.json.gz")):
                continue
            checkpoint_key = key.replace(".history.json", ".checkpoint.json")
            if checkpoint_key not in present:
                continue
            try:
                info = _parse_json(key, store.read(key))
                checkpoint = _parse_json(checkpoint_key, store.read(checkpoint_key))
            except (OSError, ValueError):
                continue
            resources = ((checkpoint.get("checkpoint") or {}).get("latest") or {}).get("resources") or []
            found[(str(info.get("kind")), int(info.get("startTime", 0)))] = stack_outputs({"resources": resources})
        return found


def stack_outputs(deployment: Mapping[str, Any]) -> dict[str, Any]:
    for resource in deployment.get("resources") or []:
        if resource.get("type") == "pulumi:pulumi:Stack":
            outputs: dict[str, Any] = dict(resource.get("outputs") or {})
            return outputs
    return {}


def _op_counts(changes: Mapping[Any, int] | None) -> dict[str, int]:
    return {str(getattr(op, "value", op)): int(n) for op, n in (changes or {}).items()}


def _parse_json(name: str, raw: bytes) -> dict[str, Any]:
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    data: dict[str, Any] = json.loads(raw)
    return data


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def engine_errors(stdout: str, stderr: str, limit: int = 4000) -> str:
    """The engine's own error lines: the diagnostics Pulumi prints on stdout (``error:`` lines
    and the indented lines under them), then stderr. Nothing is dropped silently."""
    lines = stdout.splitlines()
    picked: list[str] = []
    in_diagnostics = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("Diagnostics:"):
            in_diagnostics = True
            continue
        if in_diagnostics and (stripped.startswith(("Outputs:", "Resources:", "Duration:")) or stripped == "Do you want"):
            in_diagnostics = False
        if (in_diagnostics or "error:" in stripped) and stripped:
            picked.append(line.rstrip())
    text = "\n".join(dict.fromkeys(picked))
    if stderr.strip():
        text = f"{text}\n{stderr.strip()}" if text else stderr.strip()
    return text[-limit:]


def _engine_error(message: str, exc: Exception) -> OpsError:
    """An engine failure with the engine's own error lines (from its stdout too, where Pulumi
    prints the diagnostics: a missing plugin, a failed await, a program error)."""
    text = str(exc)
    stderr = text.split("\n stderr: ", 1)[1] if "\n stderr: " in text else text
    stdout = text.split("\n stdout: ", 1)[1].split("\n stderr: ", 1)[0] if "\n stdout: " in text else ""
    hint = None
    if "passphrase" in stderr.lower():
        hint = "set PULUMI_CONFIG_PASSPHRASE (or _FILE) for this stack"
    return OpsError(message, ExitCode.PULUMI_FAILED, hint=hint, details=engine_errors(stdout, stderr))
