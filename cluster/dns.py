#!/usr/bin/env python3
"""The real node's cluster DNS (python3 stdlib only): ``<service>.<namespace>.svc.cluster.local``
-> the Service's ClusterIP, so one pod reaches another through its endpoint (web calls
``http://api.apps.svc.cluster.local:8080``) as on any cluster.

    python3 cluster/dns.py --listen 10.89.0.1 --api https://127.0.0.1:PORT --pki DIR

cluster/local.py starts it with a real node; the kubelet points every pod's resolv.conf at it
(``clusterDNS``). It answers A queries for Service names from the API server (each name cached
for 2 s), an empty answer for other record types of those names, and NXDOMAIN for every other
name: it forwards nothing, so pods resolve cluster names only (CoreDNS is not built here).
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import struct
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

TTL = 5
CACHE_SECONDS = 2.0
SUFFIX = ("svc", "cluster", "local")


class Resolver:
    def __init__(self, api: str, pki: Path) -> None:
        self.api = api
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        self.cache: dict[tuple[str, str], tuple[float, str | None]] = {}

    def cluster_ip(self, service: str, namespace: str) -> str | None:
        key = (service, namespace)
        hit = self.cache.get(key)
        if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        ip: str | None = None
        try:
            with urllib.request.urlopen(f"{self.api}/api/v1/namespaces/{namespace}/services/{service}",
                                        context=self.ctx, timeout=2) as resp:
                ip = json.loads(resp.read())["spec"].get("clusterIP")
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            ip = None
        ip = ip if ip and ip != "None" else None
        self.cache[key] = (time.monotonic(), ip)
        return ip


def parse_question(packet: bytes) -> tuple[str, int, int]:
    """(name, qtype, end offset of the question)."""
    labels, i = [], 12
    while packet[i]:
        n = packet[i]
        labels.append(packet[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype = struct.unpack("!H", packet[i + 1:i + 3])[0]
    return ".".join(labels).lower(), qtype, i + 5


def answer(packet: bytes, resolver: Resolver) -> bytes | None:
    if len(packet) < 17:
        return None
    qid, flags = struct.unpack("!HH", packet[:4])
    try:
        name, qtype, end = parse_question(packet)
    except (IndexError, struct.error):
        return None
    parts = name.split(".")
    ip = resolver.cluster_ip(parts[0], parts[1]) if len(parts) == 5 and tuple(parts[2:]) == SUFFIX else None
    rd = flags & 0x0100
    question = packet[12:end]
    if ip is None:
        return struct.pack("!HHHHHH", qid, 0x8080 | rd | 3, 1, 0, 0, 0) + question  # NXDOMAIN
    records = b""
    if qtype in (1, 255):  # A (or ANY): the ClusterIP; other types of a Service name: no records
        records = struct.pack("!HHHIH", 0xC00C, 1, 1, TTL, 4) + socket.inet_aton(ip)
    return struct.pack("!HHHHHH", qid, 0x8480 | rd, 1, 1 if records else 0, 0, 0) + question + records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", required=True, help="address to serve UDP port 53 on (the node's bridge address)")
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--api", required=True, help="the API server's URL")
    ap.add_argument("--pki", type=Path, required=True, help="the cluster's PKI (ca.crt, admin.crt, admin.key)")
    args = ap.parse_args(argv)
    resolver = Resolver(args.api.rstrip("/"), args.pki)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.listen, args.port))
    print(f"cluster dns: serving *.svc.cluster.local on {args.listen}:{args.port}", flush=True)
    while True:
        packet, peer = sock.recvfrom(1500)
        reply = answer(packet, resolver)
        if reply is not None:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    sys.exit(main())
