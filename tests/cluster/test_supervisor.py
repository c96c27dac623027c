"""cluster/supervisor.py: a process started through a symlink whose name is not the file's own
(cluster/dns.py runs under pyenv's python3 -> python3.11) is still known as ours. Before, its
record named the link, /proc/<pid>/exe the file: deploy.sh said "dns exited" while it ran, and
stop left it running. Plain test (no root, no cluster)."""

from __future__ import annotations

import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "cluster"))
from supervisor import Supervisor


def test_a_process_started_through_a_symlink_is_alive_and_stopped(tmp_path: pathlib.Path) -> None:
    link = tmp_path / "a-link-named-otherwise"
    link.symlink_to(os.path.realpath(sys.executable))
    sup = Supervisor(tmp_path / "state")
    pid = sup.spawn("sleeper", str(link), ["-c", "import time; time.sleep(60)"])
    try:
        assert sup.alive("sleeper") == pid
    finally:
        assert sup.terminate("sleeper", timeout=5)
    assert sup.alive("sleeper") is None
