#!/usr/bin/env python3
"""The previous toolchain and code, for the upgrade test (tests/cluster/test_toolchain_upgrade.py).

A user's stack was deployed by the toolchain and library this repository pinned before the last
toolchain move. To prove that today's upgrades it without replacing anything, that exact
toolchain has to run here: this script takes the tree at ``PREVIOUS["commit"]`` from git, builds
its CLI and language host with *its own* ``toolchain/build.py`` and ``versions.json``, and
installs its Python SDK from PyPI. Everything goes into this checkout's ``.toolchain``:

    .toolchain/previous/<commit>/        the old toolchain/, components/, stacks/, releases/...
        .toolchain/cache -> ../../../cache   shared with today's build.py (entries are keyed by
                                          name, version and wrapper-module hash: no clash)
        .toolchain/bin/pulumi             the old CLI (v3.259.0), its language host beside it
        lib/immutable_infra -> components the old library, for PYTHONPATH
    .toolchain/cache/python-pulumi-<sdk>/ the old SDK (pip --target, no dependencies: the venv's
                                          grpcio, protobuf, dill... serve both SDK versions)

Idempotent: a warm machine only checks (< 1 s); a fresh one builds the old CLI once (~10 min
on 2 cores, its Go build cache is not shared with today's pkg version). Needs a full clone.

    python3 toolchain/previous.py            # build what is missing, print the paths (JSON)
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREVIOUS = {"commit": "517cefc", "cli": "3.259.0", "sdk": "3.259.0"}
"""main's last commit on Pulumi 3.259.0 (CLI and SDK), before the move to CLI 3.277.0 / SDK 3.272.0."""
TREE_PATHS = ("toolchain", "components", "stacks", "releases", "__main__.py", "Pulumi.yaml", "Pulumi.dev.yaml")
BINARIES = ("pulumi", "pulumi-language-python")


class PreviousToolchainError(RuntimeError):
    pass


@dataclass(frozen=True)
class Previous:
    tree: Path
    """The old repository files (``TREE_PATHS``)."""
    cli: Path
    """The old ``pulumi``; its language host is in the same directory (the engine looks there first)."""
    pythonpath: list[Path]
    """Put first on PYTHONPATH: the old SDK, then the old library as ``immutable_infra``."""


def log(message: str) -> None:
    print(f"[previous toolchain] {message}", file=sys.stderr, flush=True)


def _tree(root: Path) -> Path:
    tree = root / ".toolchain" / "previous" / PREVIOUS["commit"]
    stamp = tree / ".complete"
    if stamp.is_file():
        return tree
    log(f"extracting {', '.join(TREE_PATHS)} at {PREVIOUS['commit']} from git")
    archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", PREVIOUS["commit"], *TREE_PATHS],
                             capture_output=True, check=False, timeout=120)
    if archive.returncode != 0:
        raise PreviousToolchainError(f"git archive {PREVIOUS['commit']} failed (the upgrade test needs a full "
                                     f"clone, not a shallow one): {archive.stderr.decode().strip()}")
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tree, filter="data")
    cache = root / ".toolchain" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (tree / ".toolchain").mkdir()
    os.symlink(os.path.relpath(cache, tree / ".toolchain"), tree / ".toolchain" / "cache")
    # A package directory on PYTHONPATH wins over the venv's editable install of today's library.
    (tree / "lib").mkdir()
    os.symlink(os.path.join("..", "components"), tree / "lib" / "immutable_infra")
    stamp.write_text(PREVIOUS["commit"] + "\n")
    return tree


def _cli(tree: Path) -> Path:
    cli = tree / ".toolchain" / "bin" / "pulumi"
    # The old build.py checks its cache and links: < 1 s when built; its own progress otherwise.
    only = [arg for name in BINARIES for arg in ("--only", name)]
    proc = subprocess.run([sys.executable, str(tree / "toolchain" / "build.py"), *only, "--no-plugin-install"],
                          cwd=tree, check=False, timeout=3600, stdout=sys.stderr)  # stdout is our JSON
    if proc.returncode != 0:
        raise PreviousToolchainError(f"the toolchain of {PREVIOUS['commit']} did not build (its output is above)")
    version = subprocess.run([str(cli), "version"], capture_output=True, text=True, check=True).stdout.strip()
    if version != f"v{PREVIOUS['cli']}":
        raise PreviousToolchainError(f"{cli} says {version}, expected v{PREVIOUS['cli']}")
    return cli


def _sdk(root: Path) -> Path:
    target = root / ".toolchain" / "cache" / f"python-pulumi-{PREVIOUS['sdk']}"
    if (target / "pulumi" / "__init__.py").is_file():
        return target
    log(f"installing the Python SDK pulumi=={PREVIOUS['sdk']} (no dependencies) into {target.relative_to(root)}")
    tmp = target.with_name(f".tmp-{target.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(tmp),
                           f"pulumi=={PREVIOUS['sdk']}"], capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise PreviousToolchainError(f"pip install pulumi=={PREVIOUS['sdk']} failed:\n{proc.stdout}\n{proc.stderr}")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def ensure(root: Path = ROOT) -> Previous:
    tree = _tree(root)
    return Previous(tree=tree, cli=_cli(tree), pythonpath=[_sdk(root), tree / "lib"])


def main() -> int:
    try:
        previous = ensure()
    except PreviousToolchainError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"commit": PREVIOUS["commit"], "tree": str(previous.tree), "cli": str(previous.cli),
                      "pythonpath": [str(p) for p in previous.pythonpath]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
