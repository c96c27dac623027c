"""docker/engine.py: the project's own engine, started and stopped by pid record, project-local."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.docker.harness import Engine

pytestmark = [pytest.mark.docker]


@pytest.fixture
def fresh(tmp_path: pathlib.Path, engine: Engine) -> Iterator[Engine]:
    """A second engine beside the session's one (its own state, socket and containerd)."""
    e = Engine(tmp_path / "s")
    yield e
    e.ctl("stop", "--purge")


def forwarding() -> tuple[str, str]:
    """(net.ipv4.ip_forward, the FORWARD chain's policy): what dockerd would flip if allowed."""
    policy = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True,
                            env={"PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"}).stdout.splitlines()[0]
    return pathlib.Path("/proc/sys/net/ipv4/ip_forward").read_text().strip(), policy


def test_start_is_fast_idempotent_and_project_local(fresh: Engine, engine: Engine) -> None:
    before = forwarding()
    t0 = time.monotonic()
    first = fresh.ctl("start")
    seconds = time.monotonic() - t0
    assert first.returncode == 0, first.stderr
    fresh.host = first.stdout.strip()
    print(f"engine start from an empty state dir: {seconds:.1f}s ({first.stderr.strip().splitlines()[-1]})")
    assert fresh.host == f"unix://{fresh.state / 'docker.sock'}"
    assert forwarding() == before  # the host's forwarding and FORWARD policy are left alone
    info = json.loads(fresh.docker("info", "--format", "{{json .}}").stdout)
    assert info["DockerRootDir"] == str(fresh.state / "data")
    assert info["CgroupDriver"] == "cgroupfs" and info["Driver"] == "overlay2"
    # Our own containerd, not a system one; our own daemon.json, not /etc/docker's.
    pids = {name: json.loads((fresh.state / "pids" / f"{name}.json").read_text()) for name in ("containerd", "dockerd")}
    assert str(fresh.state / "containerd" / "containerd.sock") in " ".join(pids["dockerd"]["args"]) or \
        json.loads((fresh.state / "daemon.json").read_text())["containerd"] == str(fresh.state / "containerd" /
                                                                                 "containerd.sock")
    assert oct((fresh.state).stat().st_mode & 0o777) == "0o700"
    # A second start finds it running and changes nothing.
    again = fresh.ctl("start")
    assert again.returncode == 0 and "already running" in again.stderr
    assert {n: json.loads((fresh.state / "pids" / f"{n}.json").read_text())["pid"] for n in pids} == \
        {n: p["pid"] for n, p in pids.items()}
    assert fresh.ctl("status").returncode == 0
    # The session's engine is another engine: it does not see this one's containers or networks.
    fresh.docker("network", "create", "only-in-fresh")
    assert "only-in-fresh" not in engine.docker("network", "ls", "--format", "{{.Name}}").stdout


def test_stop_signals_only_recorded_processes_and_purge_cleans(fresh: Engine, engine: Engine) -> None:
    assert fresh.ctl("start").returncode == 0
    fresh.host = f"unix://{fresh.state / 'docker.sock'}"
    fresh.docker("network", "create", "purge-me")
    pids = [json.loads((fresh.state / "pids" / f"{n}.json").read_text())["pid"] for n in ("containerd", "dockerd")]
    session_dockerd = json.loads((engine.state / "pids" / "dockerd.json").read_text())["pid"]
    stop = fresh.ctl("stop")
    assert stop.returncode == 0 and "data kept" in stop.stderr
    for pid in pids:
        assert not pathlib.Path(f"/proc/{pid}").exists() or "Z" in pathlib.Path(f"/proc/{pid}/stat").read_text()
    os.kill(session_dockerd, 0)  # the other engine (also a dockerd) still runs
    assert engine.docker("info", "--format", "{{.ServerVersion}}").returncode == 0
    assert (fresh.state / "data").is_dir() and fresh.ctl("status").returncode == 1
    # Restart keeps the data; purge removes networks (and their bridges) and the state dir.
    assert fresh.ctl("start").returncode == 0
    assert "purge-me" in fresh.docker("network", "ls", "--format", "{{.Name}}").stdout
    bridge = "br-" + fresh.docker("network", "inspect", "purge-me", "--format", "{{.Id}}").stdout.strip()[:12]
    assert pathlib.Path(f"/sys/class/net/{bridge}").exists()
    purge = fresh.ctl("stop", "--purge")
    assert purge.returncode == 0 and not fresh.state.exists()
    assert not pathlib.Path(f"/sys/class/net/{bridge}").exists()
