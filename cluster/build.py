#!/usr/bin/env python3
"""Build the pinned local Kubernetes control plane from source (python3 stdlib only).

    python3 cluster/build.py            # build what is missing, link into .toolchain/cluster/bin
    python3 cluster/build.py --only etcd

Everything is pinned in cluster/versions.json: kube-apiserver, kube-controller-manager,
kube-scheduler and kubectl (k8s.io/kubernetes through the wrapper module
cluster/modules/kubernetes, which replaces every k8s.io staging module by its release),
etcd (go.etcd.io/etcd/server/v3, cluster/modules/etcd) and kwok (sigs.k8s.io/kwok,
cluster/modules/kwok). Same conventions as toolchain/build.py: each group of binaries is
built into a cache entry keyed by name, version and a hash of its inputs
(.toolchain/cluster/cache/<name>-<version>-<hash>/), only missing entries are built, then
hard-linked into .toolchain/cluster/bin/. Go runs with GOSUMDB=off (the committed go.sum
files are the checksums; `go build` runs in the default -mod=readonly), CGO_ENABLED=0,
-trimpath. Each step prints its time; a failure prints "FAILED at step '<step>'" with the
command and the tail of its log (.toolchain/cluster/logs/) and exits 1.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import sys
import time
from pathlib import Path

CLUSTER_DIR = Path(__file__).resolve().parent
ROOT = CLUSTER_DIR.parent
OUT = ROOT / ".toolchain" / "cluster"
CACHE = OUT / "cache"
BIN = OUT / "bin"
LOGS = OUT / "logs"
VERSIONS = CLUSTER_DIR / "versions.json"

BUILD_ORDER = ("pause", "testapp", "probe", "imagetool", "etcd", "registry", "kwok", "kubernetes", "node")
"""Short builds first: a failure in the long one still leaves the others cached."""
KWOK_GROUPS = ("etcd", "kwok", "kubernetes")
"""What `--kwok` builds: the control plane and simulated nodes only (no real node, no images)."""


def _load_toolchain_build():  # type: ignore[no-untyped-def]
    """The Pulumi toolchain builder's step/run/log conventions, shared rather than copied."""
    spec = importlib.util.spec_from_file_location("toolchain_build", ROOT / "toolchain" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_tb = _load_toolchain_build()
StepFailed, log, step, fmt_secs, go_env, run = _tb.StepFailed, _tb.log, _tb.step, _tb.fmt_secs, _tb.go_env, _tb.run


def load_versions() -> dict:
    try:
        return json.loads(VERSIONS.read_text())
    except (OSError, ValueError) as exc:
        raise StepFailed("read cluster/versions.json", f"{VERSIONS}: {exc}") from exc


def cache_key(name: str, spec: dict) -> str:
    module_dir = ROOT / spec["module_dir"]
    h = hashlib.sha256()
    h.update(json.dumps({k: v for k, v in spec.items() if not k.startswith("_")}, sort_keys=True).encode())
    h.update(f"{sys.platform}-{platform.machine()}|cgo=0|trimpath".encode())
    for path in sorted(module_dir.iterdir()):
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            if path.suffix == ".go" and path.read_text().startswith("//go:build app_"):
                continue  # an example app's own file (registry/apps.py builds it): not in this binary
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{name}-{spec['version']}-{h.hexdigest()[:12]}"


def check_requires(spec: dict, step_name: str) -> None:
    """The wrapper's go.mod must require (and, for k8s.io staging modules, replace to) the pinned versions."""
    gomod = (ROOT / spec["module_dir"] / "go.mod").read_text()
    for module, want in spec.get("requires", {}).items():
        m = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", gomod, re.M)
        if not m:
            raise StepFailed(step_name, f"{spec['module_dir']}/go.mod does not require {module}")
        if m.group(1) != want:
            raise StepFailed(step_name, f"{spec['module_dir']}/go.mod requires {module} {m.group(1)}, "
                                        f"cluster/versions.json pins {want}")
    staging = spec.get("staging_version")
    if staging:
        replaces = re.findall(r"^\s*(k8s\.io/\S+)\s+=>\s+(\S+)\s+(\S+)", gomod, re.M)
        if not replaces:
            raise StepFailed(step_name, f"{spec['module_dir']}/go.mod replaces no k8s.io staging module")
        bad = [f"{a} => {b} {v}" for a, b, v in replaces if a != b or v != staging]
        if bad:
            raise StepFailed(step_name, f"{spec['module_dir']}/go.mod: staging replaces must be "
                                        f"<module> => <module> {staging}: {', '.join(bad)}")


def entry_complete(entry: Path, spec: dict) -> bool:
    return (entry / "build.json").is_file() and all((entry / b).is_file() for b in spec["packages"])


def ensure_entry(name: str, spec: dict, timings) -> Path:
    key = cache_key(name, spec)
    entry = CACHE / key
    if entry_complete(entry, spec):
        log(f"--- {name} {spec['version']}: cached ({entry.relative_to(ROOT)})")
        return entry
    step_name = f"build {name} {spec['version']} ({', '.join(spec['packages'])})"
    with step(step_name, timings):
        check_requires(spec, step_name)
        gv = run(["go", "version"], step_name=step_name, cwd=ROOT, env=go_env()).strip()
        tmp = CACHE / f".tmp-{key}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        ldflags = " ".join([spec.get("ldflags", ""), *(f"-X {k}={v}" for k, v in spec.get("ldflags_x", {}).items())])
        module_dir = ROOT / spec["module_dir"]
        per_binary = {}
        # One `go build` per binary (sequential; Go parallelises inside): shared packages are
        # compiled once into GOCACHE, and the log shows which binary failed.
        for binary, package in spec["packages"].items():
            cmd = ["go", "build", "-trimpath", "-ldflags", ldflags.strip(), "-o", str(tmp / binary), package]
            log(f"    $ {shlex.join(cmd)}   (in {spec['module_dir']}; log "
                f"{LOGS.relative_to(ROOT)}/{key}-{binary}.log)")
            start = time.monotonic()
            run(cmd, step_name=step_name, cwd=module_dir, env=go_env(), log_file=LOGS / f"{key}-{binary}.log")
            per_binary[binary] = round(time.monotonic() - start, 1)
            log(f"    built {binary}: {(tmp / binary).stat().st_size / 1e6:.1f} MB in {fmt_secs(per_binary[binary])}")
        meta = {"name": name, "version": spec["version"], "key": key, "go": gv, "build_seconds": per_binary,
                "module_dir": spec["module_dir"], "ldflags": ldflags.strip(),
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (tmp / "build.json").write_text(json.dumps(meta, indent=2) + "\n")
        if entry.exists():
            shutil.rmtree(entry)
        tmp.rename(entry)
    return entry


def link_into_bin(entries: dict[str, Path], versions: dict, timings) -> None:
    todo = []
    count = 0
    for name, entry in entries.items():
        for binary in versions["binaries"][name]["packages"]:
            count += 1
            src, dst = entry / binary, BIN / binary
            try:
                same = os.path.samefile(src, dst)
            except OSError:
                same = False
            if not same:
                todo.append((src, dst))
    if not todo:
        log(f"--- {BIN.relative_to(ROOT)}: {count} files up to date")
        return
    with step(f"link {len(todo)} file(s) into {BIN.relative_to(ROOT)}", timings):
        for src, dst in todo:
            _tb.link_file(src, dst)  # makes BIN too
            log(f"    {dst.relative_to(ROOT)} -> {src.relative_to(ROOT)}")


def prune(keep: set[str]) -> None:
    for path in sorted(CACHE.iterdir()) if CACHE.is_dir() else []:
        if path.name not in keep:
            shutil.rmtree(path)
            log(f"--- pruned {path.relative_to(ROOT)}")


def missing_binaries() -> list[str]:
    """Binaries cluster/local.py needs that are not in .toolchain/cluster/bin (for skips and errors)."""
    versions = json.loads(VERSIONS.read_text())
    return [b for spec in versions["binaries"].values() for b in spec["packages"] if not (BIN / b).is_file()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=BUILD_ORDER, action="append", help="build only this group (repeatable)")
    ap.add_argument("--kwok", action="store_true",
                    help="only what a kwok-only cluster needs (control plane + kwok; no real node, registry, images)")
    ap.add_argument("--prune", action="store_true", help="delete cache entries no longer selected")
    ap.add_argument("--unless-cached", action="append", choices=BUILD_ORDER, default=[], metavar="GROUP",
                    help="do not build this group now if it is not cached yet (repeatable): what the cluster's "
                         "node mode does not use (kwok for real nodes); a cached one is linked as usual")
    args = ap.parse_args(argv)

    def build(timings: list[tuple[str, float]]) -> None:
        versions = load_versions()
        missing = [n for n in BUILD_ORDER if n not in versions.get("binaries", {})]
        if missing:
            raise StepFailed("read cluster/versions.json", f"no entry for {', '.join(missing)}")
        log("local cluster: " + ", ".join(f"{n} {versions['binaries'][n]['version']}" for n in BUILD_ORDER)
            + " (cluster/versions.json)")
        later = [n for n in args.unless_cached
                 if not entry_complete(CACHE / cache_key(n, versions["binaries"][n]), versions["binaries"][n])]
        if later:
            log(f"--- not built now (not cached, not needed here): {', '.join(later)}")
        names = [n for n in args.only or list(KWOK_GROUPS if args.kwok else BUILD_ORDER) if n not in later]
        if shutil.which("go") is None and not all(
                entry_complete(CACHE / cache_key(n, versions["binaries"][n]), versions["binaries"][n]) for n in names):
            raise StepFailed("find go", "`go` is not on PATH and some binaries are not cached")
        entries = {n: ensure_entry(n, versions["binaries"][n], timings) for n in names}
        link_into_bin(entries, versions, timings)
        if args.prune and not args.only and not args.kwok:
            prune({e.name for e in entries.values()})

    return _tb.run_build("cluster/build.py", "control plane binaries", BIN, build)


if __name__ == "__main__":
    sys.exit(main())
