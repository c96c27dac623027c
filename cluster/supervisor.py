"""The one process supervisor: every process the project runs (the control plane, the real
node, the registry, the Docker engine) is started and stopped here (python3 stdlib only).

Every process we start is recorded in ``<state>/pids/<name>.json`` with its pid, its /proc
start time and its binary; ``alive`` and ``terminate`` act only on a pid whose start time
and executable still match that record, so a recycled pid is never signalled and nothing is
ever killed by name. Logs go to ``<state>/logs/<name>.log``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Supervisor:
    def __init__(self, state: Path, env: dict[str, str] | None = None) -> None:
        self.state = state
        self.pids = state / "pids"
        self.logs = state / "logs"
        self.env = env

    @staticmethod
    def start_time(pid: int) -> str | None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime (clock ticks since boot)

    @staticmethod
    def exe(pid: int) -> str | None:
        try:
            return os.readlink(f"/proc/{pid}/exe")
        except OSError:
            return None

    def record(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.pids / f"{name}.json").read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def alive(self, name: str) -> int | None:
        """The pid of our process ``name`` if it is still the process we started, else None."""
        rec = self.record(name)
        if not rec:
            return None
        pid = rec["pid"]
        if self.start_time(pid) != rec["start_time"]:
            return None
        exe = self.exe(pid)
        if exe is not None and os.path.basename(exe.removesuffix(" (deleted)")) != os.path.basename(rec["binary"]):
            return None
        try:
            with open(f"/proc/{pid}/status") as fh:
                if any(line.startswith("State:") and "Z" in line.split()[1] for line in fh):
                    return None  # a zombie is not running
        except OSError:
            return None
        return int(pid)

    def spawn(self, name: str, binary: str, args: list[str], env: dict[str, str] | None = None) -> int:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pids.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as out:
            out.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join([binary, *args])}\n".encode())
            out.flush()
            proc = subprocess.Popen([binary, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd=self.state, env=env or self.env)
        start = None
        for _ in range(100):
            start = self.start_time(proc.pid)
            if start:
                break
            time.sleep(0.01)
        # The file the kernel runs (/proc/<pid>/exe names it): a symlinked python3 is python3.11.
        rec = {"pid": proc.pid, "start_time": start, "binary": os.path.realpath(binary), "args": args}
        (self.pids / f"{name}.json").write_text(json.dumps(rec, indent=1) + "\n")
        proc.returncode = 0  # detached on purpose: do not warn that it still runs when this object goes
        return proc.pid

    def terminate(self, name: str, timeout: float = 15.0, log: Callable[[str], None] | None = None) -> bool:
        """SIGTERM, then SIGKILL after ``timeout`` (said through ``log`` when given)."""
        pid = self.alive(name)
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive(name) is not None:
            self._reap(pid)
            time.sleep(0.1)
        if self.alive(name) is not None:
            if log is not None:
                log(f"{name} (pid {pid}) did not stop in {timeout:.0f}s: SIGKILL")
            os.kill(pid, signal.SIGKILL)
            while self.alive(name) is not None:
                self._reap(pid)
                time.sleep(0.05)
        return True

    @staticmethod
    def _reap(pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)

    def tail(self, name: str, lines: int = 15) -> str:
        try:
            text = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            text = ["(no log)"]
        return f"== {self.logs / (name + '.log')}\n" + "\n".join(text)

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float, names: tuple[str, ...],
                 error: type[Exception] = RuntimeError) -> None:
        """Poll ``check`` until it holds; raise ``error`` with the last log lines when one of
        ``names`` exits first or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            dead = [n for n in names if self.alive(n) is None]
            if dead:
                raise error(f"{', '.join(dead)} exited while waiting for {what}; last log lines:\n"
                            + "\n".join(self.tail(n) for n in dead))
            time.sleep(0.2)
        raise error(f"timed out after {timeout:.0f}s waiting for {what}; last log lines:\n"
                    + "\n".join(self.tail(n) for n in names))
