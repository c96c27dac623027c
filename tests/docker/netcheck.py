"""Real connections from inside a container's network namespace, without a shell in the image.

The service images have no shell and no client tools, so the check runs this machine's Python
inside the container's network namespace (``nsenter --net=/proc/<pid>/ns/net``): the packets
leave from the container's interfaces, through its routes, to the engine's networks, exactly
as the service's own connections would. Names are resolved by Docker's embedded DNS
(127.0.0.11 inside the namespace), asked directly with a hand-made A query.
"""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = r"""
import json, random, socket, struct, sys
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
out = {"resolved": None, "connected": False, "error": None}

def resolve(name):
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(q, ("127.0.0.11", 53))
    data = s.recv(2048)
    rcode, ancount = data[3] & 0x0F, struct.unpack(">H", data[6:8])[0]
    if rcode != 0 or ancount == 0:
        return None
    i = 12
    while data[i]:
        i += data[i] + 1
    i += 5
    for _ in range(ancount):
        i += 2 if data[i] & 0xC0 == 0xC0 else data.index(0, i) + 1 - i
        rtype, _, _, rdlen = struct.unpack(">HHIH", data[i:i + 10])
        i += 10
        if rtype == 1 and rdlen == 4:
            return socket.inet_ntoa(data[i:i + 4])
        i += rdlen
    return None

try:
    addr = host
    if not host.replace(".", "").isdigit():
        addr = resolve(host)
        out["resolved"] = addr
    if addr:
        with socket.create_connection((addr, port), timeout=timeout) as c:
            c.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
            out["connected"] = c.recv(64).startswith(b"HTTP/1.")
except Exception as exc:
    out["error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


def connect_from(pid: int, host: str, port: int, timeout: float = 2.0) -> dict[str, object]:
    """From the network namespace of ``pid``: resolve ``host`` (a name, through Docker's DNS, or
    an IPv4 address), open a TCP connection to ``port`` and read an HTTP status line.
    Returns ``{"resolved": ip|None, "connected": bool, "error": str|None}``."""
    proc = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", _PROBE, host, str(port),
                           str(timeout)], capture_output=True, text=True, timeout=timeout * 4 + 10)
    if proc.returncode != 0:
        raise AssertionError(f"nsenter probe failed: {proc.stderr}")
    out: dict[str, object] = json.loads(proc.stdout)
    return out
