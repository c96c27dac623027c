"""Environment for running the project's pinned Pulumi CLI (stdlib only).

    from toolchain.pulumi_env import pulumi_env   # or put toolchain/ on sys.path
    subprocess.run(["pulumi", "preview"], env=pulumi_env(), cwd=stack_dir)

The environment puts `.toolchain/bin` (built by `python3 toolchain/build.py`)
first on PATH, keeps all Pulumi state inside the project (`.state/pulumi-home`,
`.state/backend`), turns off update checks and plugin downloads, and refuses
any backend that is not a local `file://` one: the Pulumi Cloud is never used.
`toolchain/env.sh` gives the same environment to a shell.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path

__all__ = ["PROJECT_ROOT", "apply_pulumi_env", "pulumi_env", "toolchain_bin"]

#: The repository root (the directory holding toolchain/).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Variables that would send the CLI to the Pulumi Cloud; dropped from the environment.
_CLOUD_VARS = ("PULUMI_ACCESS_TOKEN", "PULUMI_API")


def toolchain_bin(project_root: os.PathLike[str] | str | None = None) -> Path:
    """Directory holding pulumi, the Python language host and the plugins."""
    return Path(project_root or PROJECT_ROOT).resolve() / ".toolchain" / "bin"


def _check_backend(url: str) -> str:
    if not url.startswith("file://"):
        raise ValueError(
            f"PULUMI_BACKEND_URL={url!r}: only local file:// backends are allowed here "
            "(the Pulumi Cloud is never used)"
        )
    return url


def pulumi_env(
    project_root: os.PathLike[str] | str | None = None,
    *,
    backend_url: str | None = None,
    pulumi_home: os.PathLike[str] | str | None = None,
    base: Mapping[str, str] | None = None,
    create_dirs: bool = True,
    python_venv: bool = True,
) -> dict[str, str]:
    """Return a copy of `base` (default: os.environ) set up for the pinned CLI.

    backend_url: overrides the backend; otherwise PULUMI_BACKEND_URL from `base`
        is kept if it is a file:// URL, else file://<project>/.state/backend.
        Anything but file:// raises ValueError.
    pulumi_home: overrides PULUMI_HOME (default <project>/.state/pulumi-home,
        where build.py installs the Kubernetes plugin).
    python_venv: when this Python runs in a virtualenv, put its bin/ right after
        .toolchain/bin and set VIRTUAL_ENV, so that programs without a
        `virtualenv` runtime option, inline Automation API programs and Python
        dynamic providers (which run `python3` from PATH) see the same packages.
    """
    root = Path(project_root or PROJECT_ROOT).resolve()
    env = dict(os.environ if base is None else base)
    for var in _CLOUD_VARS:
        env.pop(var, None)

    first = [str(toolchain_bin(root))]
    if python_venv and sys.prefix != sys.base_prefix:
        first.append(str(Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin")))
        env.setdefault("VIRTUAL_ENV", sys.prefix)
    rest = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p not in first]
    env["PATH"] = os.pathsep.join([*first, *rest])

    home = Path(pulumi_home).resolve() if pulumi_home else root / ".state" / "pulumi-home"
    env["PULUMI_HOME"] = str(home)

    if backend_url is not None:
        url = _check_backend(backend_url)
    elif env.get("PULUMI_BACKEND_URL"):
        url = _check_backend(env["PULUMI_BACKEND_URL"])
    else:
        url = (root / ".state" / "backend").as_uri()
    env["PULUMI_BACKEND_URL"] = url

    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    env["PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK"] = "true"
    # Plugins on PATH win over PULUMI_HOME without a version check and print a warning on every
    # run; ignore them. The bundled ones (language host, dynamic provider) are still found next
    # to .toolchain/bin/pulumi, and the Kubernetes plugin comes from PULUMI_HOME at its version.
    env["PULUMI_IGNORE_AMBIENT_PLUGINS"] = "true"

    if create_dirs:
        home.mkdir(parents=True, exist_ok=True)
        if url.startswith("file://") and not url.startswith("file://~"):
            path = url[len("file://"):].split("?", 1)[0]
            if path:
                Path(path).mkdir(parents=True, exist_ok=True)
    return env


def apply_pulumi_env(target: MutableMapping[str, str] | None = None, **kwargs) -> dict[str, str]:
    """Set the environment in place (default: os.environ), e.g. before using
    `pulumi.automation` in-process; returns the new environment."""
    target = os.environ if target is None else target
    env = pulumi_env(base=dict(target), **kwargs)
    for var in _CLOUD_VARS:
        target.pop(var, None)
    target.update(env)
    return env


if __name__ == "__main__":  # print as shell assignments: eval "$(python3 toolchain/pulumi_env.py)"
    import shlex

    env = pulumi_env()
    keys = ["PATH", "PULUMI_HOME", "PULUMI_BACKEND_URL", "PULUMI_SKIP_UPDATE_CHECK",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK",
            "PULUMI_IGNORE_AMBIENT_PLUGINS"]
    for key in keys:
        print(f"export {key}={shlex.quote(env[key])}")
    for var in _CLOUD_VARS:
        print(f"unset {var}")
