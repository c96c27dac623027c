"""Drive the real Pulumi CLI (built by toolchain/build.py) on a throwaway local backend.

A ``Workspace`` is a copy of the example project in a temp dir, with its own file backend
and PULUMI_HOME-from-the-toolchain, so engine tests never touch the developer's state.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import yaml
from immutable_infra import yaml_text

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "toolchain"))
from pulumi_env import pulumi_env  # noqa: E402

PULUMI = ROOT / ".toolchain" / "bin" / "pulumi"
TARGET_KUBERNETES_VERSION = "1.33.0"
"""Newest schema set kubernetes-validate ships; ValidatingAdmissionPolicy is GA since 1.30."""
DEV_PASSPHRASE = "immutable-dev-only-passphrase"
DEV_SECRET = "dev-only-db-password"
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "Pulumi.dev.yaml", "Pulumi.test.yaml", "Pulumi.prod.yaml")


RELEASE_ENV_ON = '_RELEASE_ENV = {"release_env": True}'


def install_todays_program(project: pathlib.Path, *, release_env: bool = True) -> None:
    """Today's ``stacks/`` and ``__main__.py`` into ``project`` (an upgrade from an older copy).

    ``release_env=False``: the topology as it was before the example turned ``release_env`` on
    (a release-defining change of the example's own, not of the library), so an upgrade test
    measures the library and the ledger alone."""
    shutil.rmtree(project / "stacks", ignore_errors=True)
    shutil.copytree(ROOT / "stacks", project / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "__main__.py", project / "__main__.py")
    if not release_env:
        topology = project / "stacks" / "topology.py"
        text = topology.read_text()
        assert text.count(RELEASE_ENV_ON) == 1, f"stacks/topology.py no longer holds {RELEASE_ENV_ON!r}"
        topology.write_text(text.replace(RELEASE_ENV_ON, "_RELEASE_ENV: dict[str, bool] = {}"))


def artifacts_only(ledger: dict[str, Any]) -> dict[str, Any]:
    """A workload's ledger without its recorded ids: the same artifacts, to be recorded by
    another stack (test's committed entries are recorded in releases/test.yaml, not dev's)."""
    return {**ledger, "releases": [{k: v for k, v in e.items() if k != "release"} for e in ledger["releases"]]}


def toolchain_missing() -> str | None:
    if not PULUMI.exists():
        return f"{PULUMI} is missing: run python3 toolchain/build.py (scripts/test.sh does)"
    return None


@dataclass
class Workspace:
    dir: pathlib.Path
    env: dict[str, str]
    auto_record: bool = True
    """Record the releases to run before every ``up`` (what scripts/deploy.sh does): tests edit
    ledgers and topology like a developer, and an update runs only recorded releases."""

    @classmethod
    def create(cls, tmp: pathlib.Path, *, target: str = "render") -> Workspace:
        """``target`` replaces the dev stack's target in the copy: engine tests default to render
        mode (no cluster needed); tests/cluster passes ``local-cluster``."""
        project = tmp / "project"
        project.mkdir()
        for name in PROJECT_FILES:
            shutil.copy(ROOT / name, project / name)
        shutil.copytree(ROOT / "stacks", project / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
        if (ROOT / "releases").is_dir():
            shutil.copytree(ROOT / "releases", project / "releases")
        # The copy runs with this checkout's venv (absolute path), like a consumer's program would.
        meta = yaml.safe_load((project / "Pulumi.yaml").read_text())
        meta["runtime"]["options"]["virtualenv"] = str(pathlib.Path(sys.prefix))
        (project / "Pulumi.yaml").write_text(yaml_text.dump(meta, sort_keys=False))
        dev = yaml.safe_load((project / "Pulumi.dev.yaml").read_text())
        dev["config"]["immutable:environment"]["target"] = target
        (project / "Pulumi.dev.yaml").write_text(yaml_text.dump(dev, sort_keys=False))
        backend = tmp / "backend"
        backend.mkdir()
        env = pulumi_env(ROOT, backend_url=backend.as_uri())
        env["PULUMI_CONFIG_PASSPHRASE"] = DEV_PASSPHRASE
        env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        return cls(project, env)

    def record(self, stack: str = "dev", *, check: bool = True) -> str:
        """``immutable-ops record <stack>``: the releases the program would run go into the ledger.
        Returns what a failed record printed ("" when it passed)."""
        proc = subprocess.run([sys.executable, "-m", "immutable_infra.ops", "-C", str(self.dir), "record", stack],
                              env=self.env, capture_output=True, text=True, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"immutable-ops record {stack} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return "" if proc.returncode == 0 else f"(the record before it failed too:\n{proc.stdout}\n{proc.stderr})"

    def pulumi(self, *args: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        recorded = ""
        if self.auto_record and args and args[0] == "up":
            stack = args[args.index("-s") + 1] if "-s" in args else "dev"
            recorded = self.record(stack, check=False)  # a program that fails here fails the `up` too
        proc = subprocess.run([str(PULUMI), *args, "--non-interactive"], cwd=self.dir, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                                 f"{recorded}")
        return proc

    def init_stack(self, stack: str = "dev") -> None:
        self.pulumi("stack", "init", stack, "--secrets-provider", "passphrase")
        secrets = (self.config(stack)["config"] or {}).get("immutable:secrets") or {}
        if "api-db-password" not in secrets:  # dev commits its (dev-only) secret, encrypted
            self.pulumi("config", "set", "--secret", "--path", "immutable:secrets.api-db-password.v1", DEV_SECRET,
                        "-s", stack)

    def preview_steps(self, stack: str = "dev") -> list[dict[str, Any]]:
        proc = self.pulumi("preview", "--json", "-s", stack)
        steps: list[dict[str, Any]] = json.loads(proc.stdout).get("steps", [])
        return steps

    def config(self, stack: str = "dev") -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load((self.dir / f"Pulumi.{stack}.yaml").read_text())
        return data

    def write_config(self, data: dict[str, Any], stack: str = "dev") -> None:
        (self.dir / f"Pulumi.{stack}.yaml").write_text(yaml_text.dump(data, sort_keys=False))

    def export(self, stack: str = "dev") -> dict[str, Any]:
        state: dict[str, Any] = json.loads(self.pulumi("stack", "export", "-s", stack).stdout)
        return state


def changed(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in steps if s.get("op") not in ("same", "read")]


def resource_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def resource_type(urn: str) -> str:
    return urn.rsplit("::", 2)[-2].rsplit("$", 1)[-1]
