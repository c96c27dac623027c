"""Environment for running the project's pinned Pulumi CLI (stdlib only).

    from toolchain.pulumi_env import pulumi_env   # or put toolchain/ on sys.path
    subprocess.run(["pulumi", "preview"], env=pulumi_env(), cwd=stack_dir)

The environment puts `.toolchain/bin` (built by `python3 toolchain/build.py`)
first on PATH, keeps the CLI's home inside the project (`.state/pulumi-home`) and
turns off update checks and plugin downloads.

The backend is the user's choice, in this order: `backend_url=`, then
`PULUMI_BACKEND_URL`, then what `pulumi login <url>` stored in the project's
PULUMI_HOME (file://, s3://...?endpoint=..., gs://, azblob://, postgres://, or a
Pulumi Cloud URL). When nothing is chosen, the default is a login to the local
file backend `.state/backend` (written to PULUMI_HOME/credentials.json, so a later
`pulumi login` replaces it). The Pulumi Cloud is contacted only when the chosen
backend is an http(s) URL: otherwise PULUMI_ACCESS_TOKEN and PULUMI_API are dropped.
`toolchain/env.sh` gives the same environment to a shell.

The CLI's automatic logs are off in the homes made here: see `automatic_logs`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

__all__ = ["AUTOMATIC_LOGS_VAR", "BACKEND_SCHEMES", "PROJECT_ROOT", "apply_pulumi_env", "automatic_logs",
           "check_backend", "current_backend", "is_cloud", "pulumi_env", "toolchain_bin"]

#: The repository root (the directory holding toolchain/).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _load_login() -> Any:
    """``components/ops/pulumi_login.py`` by its path (standard library only; no venv needed):
    the one reading of a `pulumi login`, shared with immutable-ops."""
    path = Path(__file__).resolve().parent.parent / "components" / "ops" / "pulumi_login.py"
    spec = importlib.util.spec_from_file_location("_immutable_pulumi_login", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


current_backend = _load_login().current_backend

# Variables that would send the CLI to the Pulumi Cloud; dropped unless the backend chosen is one.
_CLOUD_VARS = ("PULUMI_ACCESS_TOKEN", "PULUMI_API")
#: Backends the pinned CLI opens: DIY ones (file, the object stores, postgres) and Pulumi Cloud (http[s]).
BACKEND_SCHEMES = ("file", "s3", "gs", "azblob", "postgres", "https", "http")


#: Set to ``on`` to keep the CLI's automatic logs (see `automatic_logs`).
AUTOMATIC_LOGS_VAR = "IMMUTABLE_PULUMI_AUTOMATIC_LOGS"
_LOGS_PLACEHOLDER = (
    "A file, not a directory, on purpose: the Pulumi CLI cannot create its automatic-log directory\n"
    "here and runs without those logs. Set IMMUTABLE_PULUMI_AUTOMATIC_LOGS=on to keep them\n"
    "(toolchain/pulumi_env.py, automatic_logs).\n"
)
# The names the CLI gives its automatic logs (the same timestamp its own rotation reads).
_AUTOMATIC_LOG_NAME = re.compile(r"^.*\d{8}T\d{6}.*\.log$")


def automatic_logs(home: Path, keep: bool = False) -> bool:
    """Turn the CLI's automatic logs off in PULUMI_HOME ``home`` (the default), or back on
    (``keep``); return whether the CLI will write them.

    The pinned CLI writes a debug-level log of every command, each resource's properties
    included, to PULUMI_HOME/logs (up to 500 MB, rotated after 7 days), for `pulumi logs
    share` with Pulumi support. At 300 services on the local cluster, turning them off cut
    the CLI's CPU in a no-op `up` by 61% and its time by a third (README "Scale"). The CLI
    has no switch for it: when `logs` is a regular file it cannot create the directory and
    goes on without the logs (it says so only at -v).

    An existing directory is removed when it holds only the CLI's own logs (the files its
    rotation would delete); anything else in it, or a CLI writing there meanwhile, leaves it
    and the logs stay on.
    """
    logs = home / "logs"
    if keep:
        if logs.is_file() and logs.read_text(encoding="utf-8", errors="replace") == _LOGS_PLACEHOLDER:
            logs.unlink()
        return not logs.is_file()
    if logs.is_dir():
        entries = list(logs.iterdir())
        if any(not (e.is_file() and _AUTOMATIC_LOG_NAME.match(e.name)) for e in entries):
            return True
        try:
            for entry in entries:
                entry.unlink(missing_ok=True)  # another process may be doing the same
            logs.rmdir()
        except FileNotFoundError:
            pass
        except OSError:  # a CLI started a new log meanwhile
            return True
    if not logs.exists():
        home.mkdir(parents=True, exist_ok=True)
        try:
            logs.write_text(_LOGS_PLACEHOLDER, encoding="utf-8")
        except IsADirectoryError:  # a CLI created it meanwhile: off from the next call
            return True
    return False


def toolchain_bin(project_root: os.PathLike[str] | str | None = None) -> Path:
    """Directory holding pulumi, the Python language host and the plugins."""
    return Path(project_root or PROJECT_ROOT).resolve() / ".toolchain" / "bin"


def check_backend(url: str) -> str:
    """``url`` if the pinned CLI can open it; ValueError naming the schemes otherwise."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in BACKEND_SCHEMES:
        raise ValueError(
            f"PULUMI_BACKEND_URL={_masked(url)!r} is not a backend URL: use one of "
            + ", ".join(f"{s}://" for s in BACKEND_SCHEMES)
            + " (e.g. file:///abs/dir, s3://bucket?region=eu-west-1)"
        )
    return url


def is_cloud(url: str | None) -> bool:
    """A Pulumi Cloud (or self-hosted Pulumi service) URL: only then may the CLI call it."""
    return url is not None and url.split("://", 1)[0].lower() in ("http", "https")


def _masked(url: str) -> str:
    """The URL without a password (postgres://user:pw@host)."""
    head, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        userinfo, host = rest.split("@", 1)
        return f"{head}://{userinfo.split(':', 1)[0]}:****@{host}"
    return url


def _login_default(home: Path, url: str) -> None:
    """What `pulumi login <file url>` writes, without running the CLI (it may not be built yet)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "credentials.json"
    tmp = path.with_name(f".credentials.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"current": url, "accessTokens": {url: ""}}, indent=4) + "\n", encoding="utf-8")
    os.replace(tmp, path)


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

    backend_url: sets PULUMI_BACKEND_URL. Otherwise PULUMI_BACKEND_URL from `base` is
        kept, else the `pulumi login` stored in PULUMI_HOME is used, else (with
        create_dirs) a login to file://<project>/.state/backend is written there.
        A URL the CLI cannot open raises ValueError.
    pulumi_home: overrides PULUMI_HOME (default <project>/.state/pulumi-home,
        where build.py installs the Kubernetes plugin).
    python_venv: when this Python runs in a virtualenv, put its bin/ right after
        .toolchain/bin and set VIRTUAL_ENV, so that programs without a
        `virtualenv` runtime option, inline Automation API programs and Python
        dynamic providers (which run `python3` from PATH) see the same packages.
    """
    root = Path(project_root or PROJECT_ROOT).resolve()
    env = dict(os.environ if base is None else base)

    first = [str(toolchain_bin(root))]
    if python_venv and sys.prefix != sys.base_prefix:
        first.append(str(Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin")))
        env.setdefault("VIRTUAL_ENV", sys.prefix)
    rest = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p not in first]
    env["PATH"] = os.pathsep.join([*first, *rest])

    home = Path(pulumi_home).resolve() if pulumi_home else root / ".state" / "pulumi-home"
    env["PULUMI_HOME"] = str(home)

    if backend_url is not None:
        env["PULUMI_BACKEND_URL"] = check_backend(backend_url)
    elif env.get("PULUMI_BACKEND_URL"):
        check_backend(env["PULUMI_BACKEND_URL"])
    else:
        env.pop("PULUMI_BACKEND_URL", None)  # an empty value (an unset CI variable) means "not chosen"
    url = env.get("PULUMI_BACKEND_URL") or current_backend(home)
    if url is None:
        url = (root / ".state" / "backend").as_uri()
        if create_dirs:
            _login_default(home, url)
        else:
            env["PULUMI_BACKEND_URL"] = url
    if not is_cloud(url):
        for var in _CLOUD_VARS:
            env.pop(var, None)

    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    env["PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK"] = "true"
    # Plugins on PATH win over PULUMI_HOME without a version check and print a warning on every
    # run; ignore them. The bundled ones (language host, dynamic provider) are still found next
    # to .toolchain/bin/pulumi, and the Kubernetes plugin comes from PULUMI_HOME at its version.
    env["PULUMI_IGNORE_AMBIENT_PLUGINS"] = "true"

    if create_dirs:
        home.mkdir(parents=True, exist_ok=True)
        automatic_logs(home, keep=env.get(AUTOMATIC_LOGS_VAR, "").lower() in ("on", "1", "true"))
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
    for var in (*_CLOUD_VARS, "PULUMI_BACKEND_URL"):
        if var not in env:
            target.pop(var, None)
    target.update(env)
    return env


if __name__ == "__main__":  # print as shell assignments: eval "$(python3 toolchain/pulumi_env.py)"
    import shlex

    env = pulumi_env()
    keys = ["PATH", "PULUMI_HOME", "PULUMI_BACKEND_URL", "PULUMI_SKIP_UPDATE_CHECK",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK",
            "PULUMI_IGNORE_AMBIENT_PLUGINS", *_CLOUD_VARS]
    for key in keys:
        print(f"export {key}={shlex.quote(env[key])}" if key in env else f"unset {key}")
