#!/usr/bin/env python3
"""The project's local OCI registry (distribution/v3, built by cluster/build.py) on 127.0.0.1.

    python3 registry/local.py start          # idempotent; prints the address (127.0.0.1:5000 by default)
    python3 registry/local.py push-images    # builds the test app's images (testapp/images.json), pushes them
    python3 registry/local.py status         # exit 0 serving, 3 not running
    python3 registry/local.py stop [--purge] # stops it; --purge also deletes the stored images

State: .state/registry (or $IMMUTABLE_REGISTRY_STATE): config.yml, storage/, registry.json
(its address), images.json (every pushed image: tag -> digest and pullable reference by
digest), pids/, logs/. Port: $IMMUTABLE_REGISTRY_PORT (default 5000; 0 picks a free one).
It listens on 127.0.0.1 only, plain HTTP, no auth: nothing outside this machine reaches it.
The images are built without Docker by imagetool (go-containerregistry), reproducibly: the
same binary gives the same digests on every machine. Used by the real node (cluster/local.py)
and by the Docker target, which both pull by digest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "cluster"))
from supervisor import Supervisor  # noqa: E402

BIN = ROOT / ".toolchain" / "cluster" / "bin"
STATE = Path(os.environ.get("IMMUTABLE_REGISTRY_STATE", ROOT / ".state" / "registry"))
IMAGES_SPEC = ROOT / "testapp" / "images.json"
SUP = Supervisor(STATE, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(STATE)})


class RegistryError(Exception):
    pass


def log(msg: str) -> None:
    print(msg, flush=True)


def address() -> str | None:
    try:
        return str(json.loads((STATE / "registry.json").read_text())["address"])
    except (OSError, ValueError, KeyError):
        return None


def serving(addr: str | None) -> bool:
    if not addr:
        return False
    try:
        with urllib.request.urlopen(f"http://{addr}/v2/", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _port() -> int:
    want = int(os.environ.get("IMMUTABLE_REGISTRY_PORT", "5000"))
    with socket.socket() as s:
        # As the registry binds (Go sets SO_REUSEADDR): a port left in TIME_WAIT by the registry we just
        # stopped is free, one another process listens on is not.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", want))
        except OSError as exc:
            raise RegistryError(f"127.0.0.1:{want} is taken ({exc}); set IMMUTABLE_REGISTRY_PORT to a free "
                                "port, or 0 for any") from exc
        return int(s.getsockname()[1])


def start(timeout: float = 30.0) -> str:
    addr = address()
    if SUP.alive("registry") and serving(addr):
        log(f"registry already running: {addr}")
        return str(addr)
    binary = BIN / "registry"
    if not binary.is_file():
        raise RegistryError(f"missing {binary}: run python3 cluster/build.py --only registry")
    SUP.terminate("registry")
    STATE.mkdir(parents=True, exist_ok=True)
    addr = f"127.0.0.1:{_port()}"
    # JSON is YAML. No auth: loopback only. Deletes allowed so tests can prune.
    config = {"version": 0.1, "log": {"level": "warn", "accesslog": {"disabled": True}},
              "storage": {"filesystem": {"rootdirectory": str(STATE / "storage")}, "delete": {"enabled": True},
                          "cache": {"blobdescriptor": "inmemory"}},
              "http": {"addr": addr, "secret": "local-only-not-a-secret", "draintimeout": "1s"}}
    (STATE / "config.yml").write_text(json.dumps(config, indent=1) + "\n")
    t0 = time.monotonic()
    SUP.spawn("registry", str(binary), ["serve", str(STATE / "config.yml")])
    deadline = time.monotonic() + timeout
    while not serving(addr):
        if SUP.alive("registry") is None:
            raise RegistryError("registry exited at start:\n" + SUP.tail("registry"))
        if time.monotonic() > deadline:
            raise RegistryError(f"registry not serving on {addr} after {timeout:.0f}s:\n" + SUP.tail("registry"))
        time.sleep(0.1)
    (STATE / "registry.json").write_text(json.dumps({"address": addr}) + "\n")
    log(f"registry serving on {addr} in {time.monotonic() - t0:.1f}s (storage {STATE / 'storage'})")
    return addr


def push_images(addr: str | None = None) -> dict[str, dict[str, str]]:
    """Build and push every test-app version and the pause image; returns (and records) tag -> digest/ref."""
    addr = addr or address()
    if not serving(addr):
        raise RegistryError("the registry is not running: python3 registry/local.py start")
    spec = json.loads(IMAGES_SPEC.read_text())
    repo, user = spec["repository"], spec["user"]
    out: dict[str, dict[str, str]] = {}
    t0 = time.monotonic()
    for version, v in spec["versions"].items():
        env = {"TESTAPP_VERSION": version, **v.get("env", {})}
        args = ["build", "--file", f"/bin/testapp={BIN / 'testapp'}:0755", "--symlink", "/bin/worker=testapp",
                "--symlink", "/bin/web=testapp", "--symlink", "/bin/api=testapp",
                "--entrypoint", "/bin/testapp", "--user", user, "--label", f"org.opencontainers.image.version={version}",
                *[a for k, val in sorted(env.items()) for a in ("--env", f"{k}={val}")],
                "--push", f"{addr}/{repo}:{version}"]
        out[f"{repo}:{version}"] = _imagetool(args)
    busybox = shutil.which("busybox")
    if busybox:
        # The break-glass debug image: a real shell (Debian's static busybox) for `kubectl debug`.
        links = [a for tool in ("sh", "sleep", "echo", "cat", "ls", "id") for a in ("--symlink", f"/bin/{tool}=busybox")]
        out["debug:busybox"] = _imagetool(["build", "--file", f"/bin/busybox={busybox}:0755", *links,
                                           "--entrypoint", "/bin/sh", "--user", user,
                                           "--push", f"{addr}/debug:busybox"])
    out["pause:local"] = _imagetool(["build", "--file", f"/pause={BIN / 'pause'}:0755", "--entrypoint", "/pause",
                                     "--push", f"{addr}/pause:local"])
    seconds = time.monotonic() - t0
    (STATE / "images.json").write_text(json.dumps({"address": addr, "build_push_seconds": round(seconds, 2),
                                                   "images": out}, indent=1) + "\n")
    log(f"built and pushed {len(out)} images in {seconds:.1f}s:")
    for tag, info in out.items():
        log(f"  {tag:<24} {info['digest']}")
    return out


def _imagetool(args: list[str]) -> dict[str, str]:
    proc = subprocess.run([str(BIN / "imagetool"), *args], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RegistryError(f"imagetool {' '.join(args)} failed:\n{proc.stderr.strip()}")
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def stop(purge: bool = False) -> None:
    was = SUP.terminate("registry")
    if purge:
        shutil.rmtree(STATE, ignore_errors=True)
    else:
        (STATE / "registry.json").unlink(missing_ok=True)
    log(f"registry {'stopped' if was else 'was not running'}{'; removed ' + str(STATE) if purge else ''}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("start", "stop", "status", "push-images"))
    ap.add_argument("--purge", action="store_true", help="stop: also delete the stored images")
    args = ap.parse_args(argv)
    try:
        if args.command == "start":
            start()
        elif args.command == "push-images":
            push_images()
        elif args.command == "stop":
            stop(args.purge)
        else:
            addr = address()
            ok = SUP.alive("registry") is not None and serving(addr)
            log(f"registry: {'serving on ' + str(addr) if ok else 'not running'}")
            return 0 if ok else 3
    except RegistryError as exc:
        print(f"\nregistry/local.py {args.command}: FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
