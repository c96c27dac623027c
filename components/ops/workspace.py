"""Plumbing to the Pulumi engine: the Automation API, and the CLI where the API has no call.

A :class:`Project` is a Pulumi project directory (the one holding ``Pulumi.yaml`` and the
``Pulumi.<stack>.yaml`` files). Stacks are driven through ``pulumi.automation``
(``select_stack``, ``up``, ``preview_refresh``, ``history``); ``preview --json``,
``stack export`` and ``config set --path`` go through the Automation API's own command
runner. The environment comes from the caller, completed by :func:`project_env` (never by
running code found near the project): the backend the user chose, and in a checkout of
this repository layout its pinned CLI and local default backend.

Ledger edits are made with ``pulumi config set --path``, which keeps the YAML's comments
and layout, so the diff a reviewer sees is the entry that changed and nothing else.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..environment import CONFIG_NAMESPACE, LEDGER_KEY
from ..ledger import WorkloadLedger
from .backend import HISTORY, open_store
from .errors import ExitCode, OpsError
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

    from ..records import ReleaseArchive

OnOutput = Callable[[str], None]
LEDGER_CONFIG = f"{CONFIG_NAMESPACE}:{LEDGER_KEY}"


def find_project_dir(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding ``Pulumi.yaml`` (read as data only)."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / "Pulumi.yaml").is_file() or (directory / "Pulumi.yml").is_file():
            return directory
    raise OpsError(f"no Pulumi.yaml in {start} or any parent directory",
                   hint="run from the project directory or pass --cwd <project dir>")


def project_env(project_dir: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for the CLI: ``base`` (default ``os.environ``) completed by this library.

    Nothing found in or above the project is executed. Only the project directory itself
    (the one holding ``Pulumi.yaml``, never a parent) is looked at, as data:

    * when it has ``.toolchain/bin/pulumi`` (this repository's layout: the pinned CLI), that
      goes first on PATH and ``.state/pulumi-home`` (where its plugins are) is PULUMI_HOME;
    * the backend is the user's: ``PULUMI_BACKEND_URL``, else the ``pulumi login`` stored in
      PULUMI_HOME, else (that repository layout only) ``file://<project>/.state/backend``;
      with none of these, :meth:`Project.command` refuses to run the CLI rather than let it
      fall back to the Pulumi Cloud, which is used only when the chosen backend is an http(s) URL.
    """
    env = dict(os.environ if base is None else base)
    tool_bin = project_dir / ".toolchain" / "bin"
    pinned = (tool_bin / "pulumi").is_file()
    if pinned:
        rest = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p != str(tool_bin)]
        env["PATH"] = os.pathsep.join([str(tool_bin), *rest])
        # The pinned CLI's plugins (Kubernetes) are installed in the project's own home.
        env["PULUMI_HOME"] = str(project_dir / ".state" / "pulumi-home")
        for var, value in (("PULUMI_SKIP_UPDATE_CHECK", "true"), ("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true"),
                           ("PULUMI_IGNORE_AMBIENT_PLUGINS", "true")):
            env.setdefault(var, value)
    if not env.get("PULUMI_BACKEND_URL"):
        env.pop("PULUMI_BACKEND_URL", None)  # an empty value (an unset CI variable) means "not chosen"
    url = effective_backend(env)
    if url is None and pinned:
        url = (project_dir / ".state" / "backend").as_uri()
        (project_dir / ".state" / "backend").mkdir(parents=True, exist_ok=True)
        env["PULUMI_BACKEND_URL"] = url
    if url is None or not url.lower().startswith(("http://", "https://")):
        env.pop("PULUMI_ACCESS_TOKEN", None)
        env.pop("PULUMI_API", None)
    env.setdefault("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK", "true")
    return env


def effective_backend(env: Mapping[str, str]) -> str | None:
    """The backend the CLI will use with ``env``: ``PULUMI_BACKEND_URL``, else the current
    ``pulumi login`` in PULUMI_HOME (default ``~/.pulumi``); ``None`` when neither is set."""
    if env.get("PULUMI_BACKEND_URL"):
        return env["PULUMI_BACKEND_URL"]
    home = Path(env["PULUMI_HOME"]) if env.get("PULUMI_HOME") else Path.home() / ".pulumi"
    try:
        data = json.loads((home / "credentials.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    current = data.get("current") if isinstance(data, dict) else None
    return current if isinstance(current, str) and current else None


def _pulumi_root(env: Mapping[str, str]) -> str | None:
    """Directory whose ``bin/pulumi`` the Automation API should run (``None``: from PATH)."""
    found = shutil.which("pulumi", path=env.get("PATH"))
    if found is None:
        raise OpsError("the pulumi CLI is not on PATH", ExitCode.PULUMI_FAILED,
                       hint="install it, or in this repository build it: python3 toolchain/build.py")
    binary = Path(found).resolve() if Path(found).is_symlink() else Path(found)
    return str(binary.parent.parent) if binary.parent.name == "bin" else None


@dataclass
class UpOutcome:
    seconds: float
    """Wall-clock seconds of the whole ``up`` as this tool measured it."""
    outputs: dict[str, Any]
    summary: Mapping[str, int]
    result: str


@dataclass
class Project:
    dir: Path
    name: str
    env: dict[str, str]
    _command: auto.PulumiCommand | None = None
    _stacks: dict[str, auto.Stack] = field(default_factory=dict)

    @classmethod
    def open(cls, cwd: Path | None = None) -> Project:
        directory = find_project_dir(cwd or Path.cwd())
        meta_file = directory / "Pulumi.yaml" if (directory / "Pulumi.yaml").is_file() else directory / "Pulumi.yml"
        meta = yaml.safe_load(meta_file.read_text(encoding="utf-8")) or {}
        return cls(directory, str(meta.get("name", directory.name)), project_env(directory))

    # --- files -----------------------------------------------------------------------------

    def stack_names(self) -> list[str]:
        names = []
        for path in sorted(self.dir.glob("Pulumi.*.yaml")):
            names.append(path.name[len("Pulumi."):-len(".yaml")])
        order = {"dev": 0, "test": 1, "staging": 2, "prod": 3, "production": 4}
        return sorted(names, key=lambda n: (order.get(n, 2), n))

    def config_file(self, stack: str) -> Path:
        return self.dir / f"Pulumi.{stack}.yaml"

    def require_stack(self, stack: str) -> None:
        if not self.config_file(stack).is_file():
            known = ", ".join(self.stack_names()) or "none"
            raise OpsError(f"unknown stack {stack!r}: there is no Pulumi.{stack}.yaml in {self.dir}",
                           hint=f"use one of: {known}")

    def raw_config(self, stack: str) -> dict[str, Any]:
        """The ``config:`` map of ``Pulumi.<stack>.yaml`` as written (secure values stay ciphertext)."""
        self.require_stack(stack)
        try:
            data = yaml.safe_load(self.config_file(stack).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise OpsError(f"Pulumi.{stack}.yaml is not valid YAML: {exc}") from None
        config = data.get("config") or {}
        return dict(config) if isinstance(config, Mapping) else {}

    def immutable_config(self, stack: str) -> dict[str, Any]:
        """``immutable:*`` config keys without the namespace (what ``load_stack_config`` takes)."""
        prefix = f"{CONFIG_NAMESPACE}:"
        return {k[len(prefix):]: v for k, v in self.raw_config(stack).items() if k.startswith(prefix)}

    def ledger(self, stack: str) -> dict[str, WorkloadLedger]:
        raw = self.immutable_config(stack).get(LEDGER_KEY) or {}
        ledgers = {}
        for name, value in raw.items():
            try:
                ledgers[str(name)] = WorkloadLedger.model_validate(value)
            except ValueError as exc:
                raise OpsError(f"Pulumi.{stack}.yaml: {LEDGER_CONFIG}.{name} is not a valid ledger: {exc}") from None
        return ledgers

    # --- Automation API ---------------------------------------------------------------------

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
        """The stack's current deployment (secrets stay encrypted: no passphrase needed).

        Straight to ``stack export`` (no Automation API select first: a third of a second that a
        rollback spends before the traffic moves); a stack without state gets ``stack()``'s error."""
        self.require_stack(stack)
        code, stdout, stderr = self.run(["stack", "export", "--stack", stack])
        if code != 0:
            self.stack(stack)  # raises the plain "has no state in the backend" when that is the cause
            raise OpsError(f"pulumi stack export of {stack!r} failed", ExitCode.PULUMI_FAILED, details=stderr[-2000:])
        data: dict[str, Any] = json.loads(stdout).get("deployment") or {}
        return data

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

    # --- ledger edits ------------------------------------------------------------------------

    def set_config_path(self, stack: str, path: str, value: str) -> None:
        code, _, stderr = self.run(["config", "set", "--path", "--type", "string", path, "--stack", stack, "--", value])
        if code != 0:
            raise OpsError(f"pulumi config set {path} on {stack!r} failed", ExitCode.PULUMI_FAILED, details=stderr[-2000:])

    def remove_config_path(self, stack: str, path: str) -> None:
        code, _, stderr = self.run(["config", "rm", "--path", path, "--stack", stack])
        if code != 0:
            raise OpsError(f"pulumi config rm {path} on {stack!r} failed", ExitCode.PULUMI_FAILED, details=stderr[-2000:])

    def write_ledger(self, stack: str, workload: str, old: WorkloadLedger | None, new: WorkloadLedger) -> None:
        """Turn ``old`` into ``new`` in ``Pulumi.<stack>.yaml`` with the fewest path edits."""
        base = f'{LEDGER_CONFIG}.{workload}' if workload.replace("-", "").replace("_", "").isalnum() else \
            f'{LEDGER_CONFIG}["{workload}"]'
        old_entries = list(old.releases) if old else []
        for index, entry in enumerate(new.releases):
            previous = old_entries[index] if index < len(old_entries) else None
            if previous is None or previous.artifact != entry.artifact:
                self.set_config_path(stack, f"{base}.releases[{index}].artifact", entry.artifact)
            for key in ("release", "note", "build_seconds"):  # the optional fields of an entry
                value, was = getattr(entry, key), getattr(previous, key) if previous is not None else None
                if value is not None and (previous is None or was != value):
                    self.set_config_path(stack, f"{base}.releases[{index}].{key}", str(value))
                elif value is None and was is not None:
                    self.remove_config_path(stack, f"{base}.releases[{index}].{key}")
        for index in range(len(old_entries) - 1, len(new.releases) - 1, -1):
            self.remove_config_path(stack, f"{base}.releases[{index}]")
        if new.active != (old.active if old else None):
            if new.active is None:
                self.remove_config_path(stack, f"{base}.active")
            else:
                self.set_config_path(stack, f"{base}.active", new.active)

    @contextmanager
    def ledger_edit(self, stack: str) -> Iterator[None]:
        """Restore ``Pulumi.<stack>.yaml`` and ``releases/<stack>.yaml`` byte for byte if the block fails."""
        paths = [self.config_file(stack), self.archive_file(stack)]
        before = {p: p.read_bytes() if p.is_file() else None for p in paths}
        try:
            yield
        except BaseException:
            for path, content in before.items():
                if content is None:
                    path.unlink(missing_ok=True)
                else:
                    path.write_bytes(content)
            raise

    # --- release records ---------------------------------------------------------------------

    def archive_file(self, stack: str) -> Path:
        from ..records import archive_path

        return archive_path(self.dir, stack)

    def archive(self, stack: str) -> ReleaseArchive:
        """``releases/<stack>.yaml``, every record verified against its id."""
        from ..errors import SpecError
        from ..records import ReleaseArchive

        try:
            return ReleaseArchive.load(self.archive_file(stack))
        except SpecError as exc:
            raise OpsError(str(exc), hint="restore the file from git") from None

    def save_archive(self, stack: str, archive: ReleaseArchive) -> None:
        archive.save(self.archive_file(stack), stack)

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

    # --- history -----------------------------------------------------------------------------

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
