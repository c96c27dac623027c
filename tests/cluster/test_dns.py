"""The real node's cluster DNS (cluster/dns.py): Service names to ClusterIPs, nothing else.
Plain unit tests of the wire format (no root, no cluster); the real-node tests resolve through it."""

from __future__ import annotations

import json
import pathlib
import socket
import struct
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "cluster"))
import dns
import node


class FakeApi:
    def cluster_ip(self, service: str, namespace: str) -> str | None:
        return "10.96.0.7" if (service, namespace) == ("api", "apps") else None


def query(name: str, qtype: int = 1) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    # With an EDNS0 OPT record in the additional section, as Go's resolver sends.
    return (struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 1) + labels + b"\0" + struct.pack("!HH", qtype, 1)
            + b"\0\0\x29\x10\0\0\0\0\0\0\0")


def test_a_service_name_resolves_to_its_cluster_ip() -> None:
    reply = dns.answer(query("API.apps.svc.cluster.local"), FakeApi())
    assert reply is not None
    qid, flags, qd, an = struct.unpack("!HHHH", reply[:8])
    assert (qid, flags & 0x800F, qd, an) == (0x1234, 0x8000, 1, 1)
    assert socket.inet_ntoa(reply[-4:]) == "10.96.0.7"


def test_other_names_are_nxdomain_and_other_types_empty() -> None:
    for name in ("web.apps.svc.cluster.local", "api.apps.svc.cluster.local.apps.svc.cluster.local", "example.com"):
        reply = dns.answer(query(name), FakeApi())
        assert reply is not None and struct.unpack("!H", reply[2:4])[0] & 0xF == 3, name
    aaaa = dns.answer(query("api.apps.svc.cluster.local", 28), FakeApi())
    assert aaaa is not None and struct.unpack("!HH", aaaa[2:4] + aaaa[6:8]) == (0x8580, 0)
    assert dns.answer(b"\0" * 5, FakeApi()) is None


def test_kubelet_points_pods_at_the_cluster_dns(tmp_path: pathlib.Path) -> None:
    cfg = json.loads(node.kubelet_config(tmp_path, tmp_path / "pki", 10250, 10248).read_text())
    assert cfg["clusterDNS"] == [node.NODE_IP] and cfg["clusterDomain"] == "cluster.local"
