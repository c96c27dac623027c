"""A Pulumi project's environment: where it is, its stacks' config files, their ledgers and
release archives (read only), and the environment the CLI runs with. No engine here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..environment import CONFIG_NAMESPACE, LEDGER_KEY
from ..ledger import WorkloadLedger
from .errors import OpsError
from .pulumi_login import effective_backend as effective_backend

if TYPE_CHECKING:

    from ..records import ReleaseArchive

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


@dataclass
class ProjectEnvironment:
    """A project directory, its name and the CLI's environment; its files, read as data."""

    dir: Path
    name: str
    env: dict[str, str]

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
