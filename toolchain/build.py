#!/usr/bin/env python3
"""Build the pinned Pulumi toolchain from source (python3 stdlib only).

    python3 toolchain/build.py            # build what is missing, link, install plugins
    python3 toolchain/build.py --adopt    # once: take binaries already in .toolchain/bin into the cache

Everything is pinned in toolchain/versions.json. Each Go binary is built from a
small wrapper module under toolchain/modules/ into a cache entry keyed by name,
version and a hash of its inputs (.toolchain/cache/<name>-<version>-<hash>/);
only missing entries are built. The binaries, the Python language host's
scripts (copied from the pinned sdk/v3 module) are then hard-linked into
.toolchain/bin/, and the Kubernetes provider is installed into the project's
PULUMI_HOME (.state/pulumi-home). Go runs with GOSUMDB=off (the committed
go.sum files are the checksums), CGO_ENABLED=0 and -trimpath. Needs only Go
and Python; the module proxy must be reachable for a cold build.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

TOOLCHAIN_DIR = Path(__file__).resolve().parent
ROOT = TOOLCHAIN_DIR.parent
OUT = ROOT / ".toolchain"
CACHE = OUT / "cache"
BIN = OUT / "bin"
LOGS = OUT / "logs"
STATE = OUT / "state"
VERSIONS = TOOLCHAIN_DIR / "versions.json"

sys.path.insert(0, str(TOOLCHAIN_DIR))
from pulumi_env import pulumi_env  # noqa: E402

# Order matters: the CLI is needed to install the plugins. Further entries of versions.json
# "binaries" (e.g. pulumi-language-yaml) are built after these, in file order.
BUILD_ORDER = ("pulumi", "pulumi-language-python", "pulumi-resource-kubernetes")
HEARTBEAT_SECONDS = 30  # a long `go build` prints "still running" this often (CI wants progress)


def build_order(versions: dict) -> list[str]:
    return [*BUILD_ORDER, *(n for n in versions.get("binaries", {}) if n not in BUILD_ORDER)]


class StepFailed(Exception):
    def __init__(self, step: str, message: str):
        super().__init__(message)
        self.step = step


def log(msg: str) -> None:
    print(msg, flush=True)


@contextlib.contextmanager
def step(name: str, timings: list[tuple[str, float]]):
    log(f"==> {name}")
    start = time.monotonic()
    try:
        yield
    except StepFailed:
        log(f"    FAILED ({fmt_secs(time.monotonic() - start)})")
        raise
    except Exception as exc:  # name the step for any unexpected error
        log(f"    FAILED ({fmt_secs(time.monotonic() - start)})")
        raise StepFailed(name, f"{type(exc).__name__}: {exc}") from exc
    elapsed = time.monotonic() - start
    timings.append((name, elapsed))
    log(f"    ok ({fmt_secs(elapsed)})")


def fmt_secs(s: float) -> str:
    return f"{s:.2f}s" if s < 60 else f"{int(s // 60)}m{s % 60:04.1f}s"


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GOSUMDB"] = "off"  # the checksum DB lacks entries; go.sum is committed
    env["CGO_ENABLED"] = "0"
    # Replace (not extend) GOFLAGS: -mod=vendor or the like would break the wrappers, and
    # VCS stamping fails in a repository without commits.
    env["GOFLAGS"] = "-buildvcs=false"
    return env


def run(cmd: list[str], *, step_name: str, cwd: Path, env: dict[str, str], log_file: Path | None = None) -> str:
    """Run a command and return its stdout (or, with log_file, its whole output, which goes to that
    file); on failure raise StepFailed with the command and the tail of its output."""
    try:
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(log_file, "w") as fh:
                fh.write(f"$ (cd {cwd} && {shlex.join(cmd)})\n")
                fh.flush()
                proc = run_with_heartbeat(cmd, cwd=cwd, env=env, out=fh, what=step_name)
            result = output = log_file.read_text(errors="replace")
        else:
            proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
            result, output = proc.stdout, proc.stdout + proc.stderr
    except FileNotFoundError as exc:
        raise StepFailed(step_name, f"cannot run {cmd[0]!r}: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-30:])
        where = f" (full log: {log_file})" if log_file else ""
        raise StepFailed(step_name, f"`{shlex.join(cmd)}` exited with {proc.returncode}{where}:\n{tail}")
    return result


def run_with_heartbeat(cmd: list[str], *, cwd: Path, env: dict[str, str], out, what: str):
    """subprocess.run into a file, printing a line every HEARTBEAT_SECONDS while it runs: a cold
    `go build` is silent for many minutes, and CI wants to see progress."""
    start = time.monotonic()
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True) as proc:
        while True:
            try:
                proc.wait(timeout=HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                log(f"    ... {what}: still running ({fmt_secs(time.monotonic() - start)})")
    return proc


# --- inputs and cache keys ---------------------------------------------------------------------

def load_versions() -> dict:
    try:
        return json.loads(VERSIONS.read_text())
    except (OSError, ValueError) as exc:
        raise StepFailed("read versions.json", f"{VERSIONS}: {exc}") from exc


def generated_files(spec: dict) -> set[str]:
    return set(spec.get("generate", {}).get("files", {})) | set(spec.get("generate_cmd", {}).get("outputs", []))


def cache_key(name: str, spec: dict) -> str:
    """<name>-<version>-<hash of the wrapper module's sources, build settings and platform>."""
    module_dir = ROOT / spec["module_dir"]
    h = hashlib.sha256()
    h.update(json.dumps({k: v for k, v in spec.items() if not k.startswith("_")}, sort_keys=True).encode())
    h.update(f"{sys.platform}-{platform.machine()}|cgo=0|trimpath".encode())
    skip = generated_files(spec)
    # Sub-folders (packages and local modules of a wrapper) count too, under their relative path;
    # a wrapper without sub-folders hashes exactly as before.
    for path in sorted(module_dir.rglob("*")):
        rel = path.relative_to(module_dir).as_posix()
        if path.is_file() and rel not in skip and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{name}-{spec['version']}-{h.hexdigest()[:12]}"


def check_requires(name: str, spec: dict, step_name: str) -> None:
    """The wrapper's go.mod must require the versions pinned in versions.json."""
    gomod = (ROOT / spec["module_dir"] / "go.mod").read_text()
    for module, want in spec.get("requires", {}).items():
        m = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(\S+)", gomod, re.M)
        if not m:
            raise StepFailed(step_name, f"{spec['module_dir']}/go.mod does not require {module}")
        if m.group(1) != want:
            raise StepFailed(step_name, f"{spec['module_dir']}/go.mod requires {module} {m.group(1)}, "
                                        f"versions.json pins {want}")


def entry_files(name: str, spec: dict) -> list[str]:
    return [name, *spec.get("scripts", {}).get("files", {})]


def entry_complete(entry: Path, name: str, spec: dict) -> bool:
    return (entry / "build.json").is_file() and all((entry / f).is_file() for f in entry_files(name, spec))


# --- build steps -------------------------------------------------------------------------------

def module_dir_of(module_at_version: str, cwd: Path, step_name: str) -> Path:
    """Download (if needed) a module version and return its directory in the module cache."""
    out = run(["go", "mod", "download", "-json", module_at_version], step_name=step_name, cwd=cwd, env=go_env())
    info = json.loads(out)
    if info.get("Error") or not info.get("Dir"):
        raise StepFailed(step_name, f"go mod download {module_at_version}: {info.get('Error', 'no Dir')}")
    return Path(info["Dir"])


def generate(spec: dict, step_name: str) -> None:
    gen = spec["generate"]
    module_dir = ROOT / spec["module_dir"]
    src_root = module_dir_of(gen["module"], module_dir, step_name)
    for out_name, how in gen["files"].items():
        data = json.loads((src_root / how["from"]).read_text())
        if "set_version" in how:
            data["version"] = how["set_version"]
        text = json.dumps(data, separators=(",", ":"))
        target = module_dir / out_name
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
            log(f"    wrote {target.relative_to(ROOT)} ({len(text)} bytes)")


def generate_with_command(spec: dict, key: str, step_name: str) -> None:
    """Run the wrapper's own generator (e.g. a bridged provider's schema, which the binary embeds)."""
    gen = spec["generate_cmd"]
    module_dir = ROOT / spec["module_dir"]
    log(f"    $ {shlex.join(gen['command'])}   (in {spec['module_dir']}; log {LOGS.relative_to(ROOT)}/{key}-generate.log)")
    run(gen["command"], step_name=step_name, cwd=module_dir, env=go_env(), log_file=LOGS / f"{key}-generate.log")
    for out_name in gen.get("outputs", []):
        if not (module_dir / out_name).is_file():
            raise StepFailed(step_name, f"{shlex.join(gen['command'])} did not write {spec['module_dir']}/{out_name}")


def build_binary(name: str, spec: dict, key: str, step_name: str) -> dict:
    module_dir = ROOT / spec["module_dir"]
    tmp = CACHE / f".tmp-{key}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ldflags = " ".join(f"-X {k}={v}" for k, v in spec.get("ldflags_x", {}).items())
    cmd = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(tmp / name), spec["package"]]
    log(f"    $ {shlex.join(cmd)}   (in {spec['module_dir']}; log {LOGS.relative_to(ROOT)}/{key}.log)")
    start = time.monotonic()
    run(cmd, step_name=step_name, cwd=module_dir, env=go_env(), log_file=LOGS / f"{key}.log")
    return {"build_seconds": round(time.monotonic() - start, 1), "command": cmd, "tmp": str(tmp)}


def copy_scripts(spec: dict, dest: Path, step_name: str) -> None:
    scripts = spec["scripts"]
    src_root = module_dir_of(scripts["module"], ROOT / spec["module_dir"], step_name)
    for out_name, rel in scripts["files"].items():
        target = dest / out_name
        shutil.copyfile(src_root / rel, target)
        target.chmod(0o755)


def finalize(entry: Path, tmp: Path, meta: dict) -> None:
    (tmp / "build.json").write_text(json.dumps(meta, indent=2) + "\n")
    if entry.exists():
        shutil.rmtree(entry)
    tmp.rename(entry)


def go_version(step_name: str) -> str:
    return run(["go", "version"], step_name=step_name, cwd=ROOT, env=go_env()).strip()


def ensure_entry(name: str, spec: dict, adopt: bool, timings) -> Path:
    key = cache_key(name, spec)
    entry = CACHE / key
    if entry_complete(entry, name, spec):
        log(f"--- {name} {spec['version']}: cached ({entry.relative_to(ROOT)})")
        return entry

    stale = BIN / name
    if adopt and stale.is_file() and not (entry / name).exists():
        with step(f"adopt {name} {spec['version']} from .toolchain/bin", timings):
            check_requires(name, spec, f"adopt {name}")
            if name == "pulumi":
                out = run([str(stale), "version"], step_name=f"adopt {name}", cwd=ROOT, env=go_env()).strip()
                want = spec["ldflags_x"]["github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"]
                if out != want:
                    raise StepFailed(f"adopt {name}", f"{stale} reports {out!r}, want {want!r}")
            tmp = CACHE / f".tmp-{key}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            os.replace(stale, tmp / name)
            if "scripts" in spec:
                copy_scripts(spec, tmp, f"adopt {name}")
            finalize(entry, tmp, {"name": name, "version": spec["version"], "key": key, "adopted": True,
                                  "note": "built by hand from the same wrapper module, without -trimpath",
                                  "size_bytes": (tmp / name).stat().st_size,
                                  "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        return entry

    step_name = f"build {name} {spec['version']}"
    with step(step_name, timings):
        check_requires(name, spec, step_name)
        gv = go_version(step_name)
        if "generate" in spec:
            generate(spec, step_name)
        if "generate_cmd" in spec:
            generate_with_command(spec, key, step_name)
        result = build_binary(name, spec, key, step_name)
        tmp = Path(result["tmp"])
        if "scripts" in spec:
            copy_scripts(spec, tmp, step_name)
        size = (tmp / name).stat().st_size
        finalize(entry, tmp, {"name": name, "version": spec["version"], "key": key, "go": gv,
                              "build_seconds": result["build_seconds"], "size_bytes": size,
                              "command": result["command"], "module_dir": spec["module_dir"],
                              "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        log(f"    built {name}: {size / 1e6:.1f} MB in {fmt_secs(result['build_seconds'])}")
    return entry


def link_into_bin(entries: dict[str, Path], versions: dict, timings) -> None:
    wanted: dict[str, Path] = {}
    for name, entry in entries.items():
        for f in entry_files(name, versions["binaries"][name]):
            wanted[f] = entry / f
    todo = []
    for f, src in wanted.items():
        dst = BIN / f
        try:
            same = os.path.samefile(src, dst)
            if not same:  # a copy (no hard links across file systems) made by copy2 keeps size and mtime
                a, b = src.stat(), dst.stat()
                same = (a.st_size, a.st_mtime_ns) == (b.st_size, b.st_mtime_ns)
        except OSError:
            same = False
        if not same:
            todo.append((src, dst))
    if not todo:
        log(f"--- .toolchain/bin: {len(wanted)} files up to date")
        return
    with step(f"link {len(todo)} file(s) into .toolchain/bin", timings):
        for src, dst in todo:
            link_file(src, dst)
            log(f"    {dst.relative_to(ROOT)} -> {src.relative_to(ROOT)}")


def link_file(src: Path, dst: Path) -> None:
    """Put ``src`` at ``dst`` atomically: a hard link (the engine sees every file as living in
    .toolchain/bin), or a copy across file systems. Also used by ``go_tools.py`` and ``cluster/build.py``."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def install_plugins(entries: dict[str, Path], versions: dict, pulumi_home: Path | None, timings) -> None:
    env = pulumi_env(ROOT, pulumi_home=pulumi_home)
    home = Path(env["PULUMI_HOME"])
    for name, spec in versions["binaries"].items():
        plugin = spec.get("plugin")
        if not plugin or name not in entries:  # not built (--unless-cached)
            continue
        kind, pname, pversion = plugin["kind"], plugin["name"], plugin["version"]
        installed = home / "plugins" / f"{kind}-{pname}-v{pversion}" / name
        marker = STATE / f"plugin-{kind}-{pname}-{pversion}.json"
        key = entries[name].name
        want = {"key": key, "pulumi_home": str(home)}
        try:
            have = json.loads(marker.read_text())
        except (OSError, ValueError):
            have = None
        if have == want and installed.is_file():
            log(f"--- plugin {kind} {pname} {pversion}: installed in {home}")
            continue
        step_name = f"install plugin {kind} {pname} {pversion} into {home}"
        with step(step_name, timings):
            cmd = [str(BIN / "pulumi"), "plugin", "install", kind, pname, pversion,
                   "--file", str(entries[name] / name), "--reinstall", "--non-interactive"]
            run(cmd, step_name=step_name, cwd=ROOT, env=env, log_file=LOGS / f"plugin-{pname}-{pversion}.log")
            if not installed.is_file():
                raise StepFailed(step_name, f"`pulumi plugin install` succeeded but {installed} is missing")
            STATE.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps(want) + "\n")


def prune(keep: set[str] | None, versions: dict) -> None:
    if keep is None:
        keep = {cache_key(n, versions["binaries"][n]) for n in build_order(versions)}
    for path in sorted(CACHE.iterdir()) if CACHE.is_dir() else []:
        if path.name.startswith(".tmp-") or (path.is_dir() and path.name not in keep
                                             and path.name.startswith(tuple(build_order(versions)))):
            shutil.rmtree(path)
            log(f"--- pruned {path.relative_to(ROOT)}")


def check_python_pins(versions: dict) -> None:
    """Warn when requirements*.txt pin the Pulumi SDKs at other versions than versions.json: the
    SDK asks the engine for its own plugin version, so the two must agree."""
    want = versions.get("python", {})
    for req in sorted(ROOT.glob("requirements*.txt")):
        for line in req.read_text().splitlines():
            m = re.match(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)", line)
            if not m:
                continue
            name = re.sub(r"[-_.]+", "-", m.group(1)).lower()
            if name in want and m.group(2) != want[name]:
                log(f"!!! {req.name} pins {name}=={m.group(2)} but toolchain/versions.json pins {want[name]}")


def run_build(tool: str, what: str, where: Path, body: Callable[[list[tuple[str, float]]], None]) -> int:
    """Run ``body`` (it appends ``(step, seconds)`` to the timings it is given), then print the
    timings and where the result is; a failed step names itself. The exit code of both builders
    (this one and ``cluster/build.py``)."""
    start = time.monotonic()
    timings: list[tuple[str, float]] = []
    try:
        body(timings)
    except StepFailed as exc:
        print(f"\n{tool}: FAILED at step '{exc.step}':\n{exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(f"\n{tool}: interrupted", file=sys.stderr)
        return 130
    total = time.monotonic() - start
    for name, secs in timings:
        log(f"    {fmt_secs(secs):>9}  {name}")
    log(f"{what} ready in {fmt_secs(total)}: {where}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adopt", action="store_true",
                    help="move binaries already in .toolchain/bin (built from the current wrapper modules by hand) "
                         "into the cache instead of rebuilding them")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="build only this binary of versions.json (repeatable); skips linking of others and "
                         "plugin install")
    ap.add_argument("--unless-cached", action="append", metavar="NAME", default=[],
                    help="do not build this binary now if it is not cached yet (repeatable): what a stack does "
                         "not use (scripts/deploy.sh); a cached one is linked and installed as usual")
    ap.add_argument("--no-plugin-install", action="store_true", help="do not install plugins into PULUMI_HOME")
    ap.add_argument("--prune", action="store_true",
                    help="delete cache entries that versions.json and the wrapper modules no longer select")
    ap.add_argument("--pulumi-home", type=Path, help="PULUMI_HOME to install plugins into "
                                                      "(default: <project>/.state/pulumi-home)")
    args = ap.parse_args(argv)

    def build(timings: list[tuple[str, float]]) -> None:
        versions = load_versions()
        missing = [n for n in BUILD_ORDER if n not in versions.get("binaries", {})]
        if missing:
            raise StepFailed("read versions.json", f"no entry for {', '.join(missing)}")
        log(f"toolchain: pulumi {versions['pulumi']['version']}, "
            f"pulumi-kubernetes {versions['pulumi_kubernetes']['version']} (toolchain/versions.json)")
        if shutil.which("go") is None and not all(
                entry_complete(CACHE / cache_key(n, versions["binaries"][n]), n, versions["binaries"][n])
                for n in build_order(versions)):
            raise StepFailed("find go", "`go` is not on PATH and some binaries are not cached")
        check_python_pins(versions)
        order = build_order(versions)
        unknown = sorted(set(args.only or ()) - set(order))
        if unknown:
            raise StepFailed("read versions.json", f"--only {', '.join(unknown)}: not in versions.json binaries")
        unknown = sorted(set(args.unless_cached) - set(order))
        if unknown:
            raise StepFailed("read versions.json", f"--unless-cached {', '.join(unknown)}: not in versions.json")
        later = [n for n in args.unless_cached
                 if not entry_complete(CACHE / cache_key(n, versions["binaries"][n]), n, versions["binaries"][n])]
        if later:
            log(f"--- not built now (not cached, not needed here): {', '.join(later)}")
        names = [n for n in args.only or order if n not in later]
        entries = {n: ensure_entry(n, versions["binaries"][n], args.adopt, timings) for n in names}
        link_into_bin(entries, versions, timings)
        if not args.only and not args.no_plugin_install:
            install_plugins(entries, versions, args.pulumi_home, timings)
        if args.prune:
            prune({e.name for e in entries.values()} if not args.only else None, versions)

    return run_build("build.py", "toolchain", BIN, build)


if __name__ == "__main__":
    sys.exit(main())
