"""Any Pulumi project (an example, a consumer program) on the real CLI and a throwaway backend."""

from __future__ import annotations

import json
import pathlib
import subprocess
from dataclasses import dataclass, field
from typing import Any

import yaml
from immutable_infra import yaml_text

from .harness import DEV_PASSPHRASE, PULUMI, ROOT, pulumi_env

NOT_RUNNING_COMPUTE_SAFE = ("replace", "create-replacement", "delete-replaced", "delete", "discard")
"""Step kinds that would stop or rebuild something that runs (or lose a kept release)."""


@dataclass
class Project:
    dir: pathlib.Path
    env: dict[str, str]
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, tmp: pathlib.Path, files: dict[str, str], *, virtualenv: str) -> Project:
        project = tmp / "project"
        for name, text in files.items():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_text(text)
        meta = yaml.safe_load((project / "Pulumi.yaml").read_text())
        meta["runtime"]["options"]["virtualenv"] = virtualenv
        (project / "Pulumi.yaml").write_text(yaml_text.dump(meta, sort_keys=False))
        backend = tmp / "backend"
        backend.mkdir()
        env = pulumi_env(ROOT, backend_url=backend.as_uri())
        env["PULUMI_CONFIG_PASSPHRASE"] = DEV_PASSPHRASE
        env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        env.pop("PYTHONPATH", None)
        return cls(project, env)

    @property
    def backend(self) -> pathlib.Path:
        return pathlib.Path(self.env["PULUMI_BACKEND_URL"].removeprefix("file://"))

    def pulumi(self, *args: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **self.extra_env}
        proc = subprocess.run([str(PULUMI), *args, "--non-interactive"], cwd=self.dir, env=env,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def init(self, stack: str = "dev", *, secrets: dict[str, str] | None = None) -> None:
        self.pulumi("stack", "init", stack, "--secrets-provider", "passphrase")
        for key, value in (secrets or {}).items():
            self.pulumi("config", "set", "--secret", key, value, "-s", stack)

    def preview_steps(self, stack: str = "dev") -> list[dict[str, Any]]:
        proc = self.pulumi("preview", "--json", "--show-sames", "-s", stack)
        steps: list[dict[str, Any]] = json.loads(proc.stdout).get("steps", [])
        return steps

    def manifests(self, render_dir: str = "build/manifests") -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = []
        for path in sorted((self.dir / render_dir).rglob("*.yaml")):
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
        return docs

    def stored_text(self, stack: str = "dev") -> dict[str, str]:
        """Everything the stack keeps outside the render directory: its config file, every file of
        the backend (state, history, backups), the history and export commands' output."""
        texts = {f"Pulumi.{stack}.yaml": (self.dir / f"Pulumi.{stack}.yaml").read_text()}
        for path in self.backend.rglob("*"):
            if path.is_file():
                texts[str(path)] = path.read_bytes().decode(errors="replace")
        texts["stack history"] = self.pulumi("stack", "history", "--json", "-s", stack).stdout
        texts["stack export"] = self.pulumi("stack", "export", "-s", stack).stdout
        texts["stack output"] = self.pulumi("stack", "output", "--json", "-s", stack).stdout
        return texts


def example_files(name: str) -> dict[str, str]:
    """The example's files, and the modules the examples share (``examples/*.py``) beside them."""
    folder = ROOT / "examples" / name
    shared = {p.name: p.read_text() for p in (ROOT / "examples").glob("*.py")}
    return {**shared, **{p.name: p.read_text() for p in folder.iterdir() if p.is_file() and p.suffix in (".py", ".yaml")}}

