#!/usr/bin/env python3
"""The image build step of the example apps (web, api, worker; testapp/apps.json), as a
pipeline runs it:

    python3 registry/apps.py build dev     # build the changed apps, push them, append to dev's ledger
    python3 registry/apps.py check dev     # every image dev's ledger names is in the local registry
    python3 registry/apps.py digest        # build only: print each app's image digest (JSON)

``build`` compiles each app from testapp/ (``go build -trimpath -tags app_<name>``: the shared
server plus the app's own file), packs the one binary into an OCI image with imagetool (no
Docker; fixed owners and times, so the same source and toolchain give the same digest on every
machine) and then, only for an image whose digest is new:

- pushes it to the local registry (registry/local.py) as ``apps/<name>:<version>``;
- appends a ledger entry to ``Pulumi.<stack>.yaml``: the reference by digest, a note naming the
  version and the commit, and ``build_seconds`` (how long the image took to build: compile +
  pack; ``immutable-ops report`` shows it). ``immutable-ops record`` then gives it its release id.

Nothing is rebuilt when an app's inputs (its Go files, go.mod, the Go version, imagetool, the
image settings) are those of its last build (cache: .state/apps/, or $IMMUTABLE_APPS_CACHE) and
nothing is pushed when the registry already holds the digest. Every app is compiled before
anything is pushed or recorded: one app that fails to compile stops the step with the
compiler's error, and the registry and the ledger stay as they were.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "testapp"
SPEC = SOURCE / "apps.json"
BIN = ROOT / ".toolchain" / "cluster" / "bin"
LEDGER = "immutable:ledger"
MANIFEST_TYPES = ", ".join(["application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
                            "application/vnd.docker.distribution.manifest.v2+json"])


class AppsError(Exception):
    pass


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@functools.cache
def _load(name: str, relative: str) -> Any:
    """A stdlib script of the project loaded by path (registry/ and toolchain/ are no packages)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _registry() -> Any:
    """registry/local.py (its state and address follow IMMUTABLE_REGISTRY_STATE)."""
    return _load("registry_local", "registry/local.py")


def cache_dir() -> Path:
    return Path(os.environ.get("IMMUTABLE_APPS_CACHE", ROOT / ".state" / "apps"))


def _toolchain_build() -> Any:
    return _load("toolchain_build", "toolchain/build.py")


def go_env() -> dict[str, str]:
    """The same Go settings as every other build of the project (toolchain/build.py's)."""
    return _toolchain_build().go_env()  # type: ignore[no-any-return]


def _run(cmd: list[str], cwd: Path, what: str) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=go_env(), capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise AppsError(f"{what} failed:\n$ {' '.join(cmd)}\n{(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def load_spec() -> dict[str, Any]:
    return json.loads(SPEC.read_text())  # type: ignore[no-any-return]


def inputs_hash(name: str, app: dict[str, Any], source: Path, user: str) -> str:
    """Everything the app's image is made of: its Go files (as `go list` selects them for its tag),
    go.mod, the Go version, imagetool and the image settings."""
    files = _run(["go", "list", "-tags", app["tag"], "-f", "{{join .GoFiles \"\\n\"}}", "."], source,
                 f"go list ({name})").split()
    h = hashlib.sha256(json.dumps({"app": app, "user": user}, sort_keys=True).encode())
    for f in sorted([*files, "go.mod", *(["go.sum"] if (source / "go.sum").exists() else [])]):
        h.update(f.encode() + b"\0" + (source / f).read_bytes() + b"\0")
    h.update(_run(["go", "version"], source, "go version").encode())
    h.update(hashlib.sha256((BIN / "imagetool").read_bytes()).digest())
    return h.hexdigest()


def imagetool(args: list[str]) -> dict[str, str]:
    reg = _registry()
    try:
        return reg._imagetool(args)  # type: ignore[no-any-return]
    except reg.RegistryError as exc:
        raise AppsError(str(exc)) from exc


def build_app(name: str, app: dict[str, Any], source: Path, user: str, out: Path) -> dict[str, Any]:
    """Compile one app and pack its image (not pushed): digest, version, build seconds, image args."""
    t0 = time.monotonic()
    binary = out / name
    cmd = ["go", "build", "-trimpath", "-tags", app["tag"], "-ldflags", "-s -w", "-o", str(binary), "."]
    proc = subprocess.run(cmd, cwd=source, env=go_env(), capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise AppsError(f"{name} does not compile (nothing was pushed or recorded):\n$ (cd {source} && "
                        f"{' '.join(cmd)})\n{(proc.stderr or proc.stdout).strip()}")
    version = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30).stdout.strip()
    args = ["build", "--file", f"{app['binary']}={binary}:0755", "--entrypoint", app["binary"], "--user", user,
            "--label", f"org.opencontainers.image.version={version}",
            "--label", f"org.opencontainers.image.title={name}"]
    digest = imagetool(args)["digest"]
    return {"digest": digest, "version": version, "build_seconds": round(time.monotonic() - t0, 2), "args": args}


def digests(source: Path) -> dict[str, dict[str, Any]]:
    spec = load_spec()
    with tempfile.TemporaryDirectory(prefix="apps-") as tmp:
        return {name: {k: v for k, v in build_app(name, app, source, spec["user"], Path(tmp)).items() if k != "args"}
                for name, app in spec["apps"].items()}


# --- registry -----------------------------------------------------------------------------------

def registry_address() -> str:
    reg = _registry()
    addr = reg.address()
    if not reg.serving(addr):
        raise AppsError(f"the local registry is not running ({reg.STATE}): start it with "
                        "`python3 registry/local.py start` (scripts/deploy.sh dev starts it for you)")
    return str(addr)


def in_registry(addr: str, repository: str, digest: str) -> bool:
    req = urllib.request.Request(f"http://{addr}/v2/{repository}/manifests/{digest}", method="HEAD",
                                 headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise AppsError(f"registry {addr}: HEAD {repository}@{digest}: {exc}") from exc
    except OSError as exc:
        raise AppsError(f"registry {addr} unreachable ({exc}): start it with `python3 registry/local.py start`") from exc


# --- ledger -------------------------------------------------------------------------------------

def ledger(project: Path, stack: str) -> dict[str, Any]:
    data = yaml.safe_load((project / f"Pulumi.{stack}.yaml").read_text()) or {}
    return dict((data.get("config") or {}).get(LEDGER) or {})


def pulumi(project: Path, *args: str) -> None:
    exe = ROOT / ".toolchain" / "bin" / "pulumi"
    cut = args.index("--") if "--" in args else len(args)  # flags before `--`, the value after it
    proc = subprocess.run([str(exe) if exe.exists() else "pulumi", *args[:cut], "--non-interactive", *args[cut:]],
                          cwd=project,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AppsError(f"pulumi {' '.join(args)} failed:\n{proc.stderr.strip()}")


def commit_of(source: Path) -> str:
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=source, capture_output=True, text=True)
    if head.returncode != 0:
        return "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=source, capture_output=True, text=True)
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def append_entry(project: Path, stack: str, name: str, index: int, artifact: str, note: str, seconds: float,
                 pinned: bool) -> None:
    base = f"{LEDGER}.{name}"
    for key, value in (("artifact", artifact), ("note", note), ("build_seconds", str(seconds))):
        pulumi(project, "config", "set", "--path", "--type", "string", f"{base}.releases[{index}].{key}", "-s", stack,
               "--", value)
    if pinned:  # a new build of this app is what the stack runs next; the pin was to an older release
        pulumi(project, "config", "rm", "--path", f"{base}.active", "-s", stack)


def build(stack: str, project: Path, source: Path) -> dict[str, Any]:
    spec = load_spec()
    addr = registry_address()
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    current = ledger(project, stack)
    summary: dict[str, Any] = {"built": {}, "pushed": [], "recorded": [], "unchanged": []}
    with tempfile.TemporaryDirectory(prefix="apps-") as tmp:
        # 1. Compile and pack every app whose inputs changed; nothing is pushed until all succeed.
        planned: dict[str, dict[str, Any]] = {}
        for name, app in spec["apps"].items():
            key = inputs_hash(name, app, source, spec["user"])
            cached = _read_json(cache / f"{name}.json")
            if cached.get("inputs") == key and in_registry(addr, app["repository"], cached["digest"]):
                planned[name] = {**cached, "fresh": False}
                continue
            log(f"==> building {name} (go build -tags {app['tag']}, imagetool)")
            result = build_app(name, app, source, spec["user"], Path(tmp))
            planned[name] = {**result, "inputs": key, "fresh": True}
            summary["built"][name] = result["build_seconds"]
            log(f"    {name} {result['version']}: {result['digest']} in {result['build_seconds']:.1f}s")
        # 2. Push new digests, then append them to the ledger.
        for name, app in spec["apps"].items():
            got = planned[name]
            artifact = f"{addr}/{app['repository']}@{got['digest']}"
            if got["fresh"]:
                if not in_registry(addr, app["repository"], got["digest"]):
                    pushed = imagetool([*got["args"], "--push", f"{addr}/{app['repository']}:{got['version']}"])
                    if pushed["digest"] != got["digest"]:
                        raise AppsError(f"{name}: pushed {pushed['digest']}, built {got['digest']}: the build is not "
                                        "reproducible")
                    summary["pushed"].append(name)
                (cache / f"{name}.json").write_text(json.dumps(
                    {k: got[k] for k in ("inputs", "digest", "version", "build_seconds")}) + "\n")
            entries = list((current.get(name) or {}).get("releases") or [])
            known = [i for i, e in enumerate(entries) if str(e.get("artifact", "")).endswith("@" + got["digest"])]
            if known:
                summary["unchanged"].append(name)
                entry = entries[known[-1]]
                if entry["artifact"] != artifact:
                    log(f"    {name}: the ledger names this image as {entry['artifact']}, not {artifact}")
                if known[-1] != len(entries) - 1:
                    log(f"    {name}: this source is an earlier release in the ledger ({entry.get('release')}, "
                        f"{entry.get('note')}); nothing appended (`immutable-ops rollback` runs it again)")
                continue
            note = f"{name} {got['version']} (commit {commit_of(source)})"
            pinned = bool((current.get(name) or {}).get("active"))
            append_entry(project, stack, name, len(entries), artifact, note, got["build_seconds"], pinned)
            summary["recorded"].append({"app": name, "artifact": artifact, "note": note,
                                        "build_seconds": got["build_seconds"]})
            log(f"    {name}: appended to Pulumi.{stack}.yaml: {artifact} ({note}, built in {got['build_seconds']}s)"
                + ("; its pin (active) was removed: the new build runs" if pinned else ""))
    if not summary["built"] and not summary["recorded"]:
        log(f"apps: nothing changed ({', '.join(spec['apps'])} as in the ledger and the registry)")
    return summary


def check(stack: str, project: Path) -> list[str]:
    """Image references of the stack's ledger that the local registry does not hold."""
    addr = registry_address()
    missing = []
    for name, entry in ledger(project, stack).items():
        for release in (entry or {}).get("releases") or []:
            artifact = str(release.get("artifact", ""))
            if "@sha256:" not in artifact:
                continue  # not an image (an AMI id)
            ref, digest = artifact.split("@", 1)
            host, _, repository = ref.partition("/")
            if host != addr or not in_registry(addr, repository, digest):
                missing.append(f"{name}: {artifact}" + ("" if host == addr else f" (not in the local registry {addr})"))
    return missing


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("build", "check", "digest"))
    ap.add_argument("stack", nargs="?", default="dev")
    ap.add_argument("--project", type=Path, default=ROOT, help="the Pulumi project (Pulumi.<stack>.yaml)")
    ap.add_argument("--source", type=Path, default=SOURCE, help="the apps' Go module (default testapp/)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    args = ap.parse_args(argv)
    try:
        if shutil.which("go") is None:
            raise AppsError("`go` is not on PATH: the apps are built from source")
        if not (BIN / "imagetool").is_file():
            raise AppsError(f"missing {BIN / 'imagetool'}: run python3 cluster/build.py --only imagetool")
        if args.command == "digest":
            result: Any = digests(args.source.resolve())
        elif args.command == "build":
            result = build(args.stack, args.project.resolve(), args.source.resolve())
        else:
            result = check(args.stack, args.project.resolve())
            if result:
                raise AppsError(f"Pulumi.{args.stack}.yaml names images the local registry does not hold (nothing "
                                "was deployed):\n  " + "\n  ".join(result) + "\nfix: `python3 registry/apps.py build "
                                f"{args.stack}` pushes the apps built from this source; an image of another build must "
                                "be pushed again, or its ledger entry removed")
            log(f"apps: every image of Pulumi.{args.stack}.yaml is in the local registry")
    except AppsError as exc:
        print(f"\nregistry/apps.py {args.command}: FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    if args.json:
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
