"""State kept outside the immutable VMs, referenced by id and mounted at boot.

An instance of a release is disposable: its root and scratch volumes are deleted with it.
What must outlive a release lives on EFS or on an existing EBS volume, and the instance
mounts it when it boots (a script rendered here and put in front of the user's user data,
so it is part of the release like any other user data).
"""

from __future__ import annotations

import shlex
from typing import Annotated

from pydantic import Field, model_validator

from ..fields import AbsolutePath, Flag, Spec
from .ids import DeviceName, EfsAccessPointId, EfsId, SecurityGroupId, VolumeId
from .problems import Problems

NFS_PORT = 2049


class EfsMount(Spec):
    """An EFS file system mounted with TLS (needs ``amazon-efs-utils`` in the AMI)."""

    file_system_id: EfsId
    """``fs-...``. No default."""
    mount_path: AbsolutePath
    """Where it is mounted, e.g. ``/srv/shared``. No default."""
    access_point_id: EfsAccessPointId | None = None
    """Mount through this access point (recommended: it pins the POSIX user and root)."""
    security_group_id: SecurityGroupId | None = None
    """The mount targets' security group; when set, the instances get egress to it on 2049."""
    read_only: Flag = False
    """Mount read-only. Default false."""


class DataVolume(Spec):
    """An existing EBS volume attached at boot by the instance itself.

    A volume attaches to one instance at a time, so it needs a group of one instance
    replaced in place by an instance refresh with ``min_healthy_percentage`` 0 (checked by
    the spec). The instance profile must allow ``ec2:AttachVolume`` on it.
    """

    volume_id: VolumeId
    """The existing EBS volume (``vol-...``). No default."""
    device_name: DeviceName = "/dev/sdf"
    """Device it is attached as. Default ``/dev/sdf``."""
    mount_path: AbsolutePath
    """Where it is mounted, e.g. ``/data``. No default."""


class State(Spec):
    """References to state outside the VMs. Part of the release (it shapes the boot script)."""

    efs: list[EfsMount] = Field(default_factory=list)
    """EFS file systems mounted at boot."""
    data_volumes: Annotated[list[DataVolume], Field(max_length=8)] = Field(default_factory=list)
    """Existing EBS volumes attached at boot (at most 8; needs a group of one instance)."""

    @model_validator(mode="after")
    def _distinct(self) -> State:
        problems = Problems("State")
        seen: dict[str, str] = {}
        mounts: list[tuple[tuple[str | int, ...], str]] = [
            *((("efs", i, "mount_path"), m.mount_path) for i, m in enumerate(self.efs)),
            *((("data_volumes", i, "mount_path"), v.mount_path) for i, v in enumerate(self.data_volumes)),
        ]
        for loc, path in mounts:
            if path in seen:
                problems.add(loc, path, f"mount path {path} is also used by {seen[path]}",
                             "give every mount its own directory")
            seen.setdefault(path, ".".join(str(p) for p in loc[:2]))
        devices: set[str] = set()
        volumes: set[str] = set()
        for i, vol in enumerate(self.data_volumes):
            if vol.device_name in devices:
                problems.add(("data_volumes", i, "device_name"), vol.device_name,
                             "two data volumes use the same device name", "give each its own /dev/sd[f-p]")
            if vol.volume_id in volumes:
                problems.add(("data_volumes", i, "volume_id"), vol.volume_id,
                             "the same volume is listed twice", "remove the duplicate")
            devices.add(vol.device_name)
            volumes.add(vol.volume_id)
        problems.raise_if_any()
        return self

    @property
    def empty(self) -> bool:
        return not self.efs and not self.data_volumes


def boot_script(state: State) -> str | None:
    """The shell script that mounts ``state`` at boot, or ``None`` when there is nothing to mount.

    Deterministic (same state, same bytes), since it is part of the launch template.
    """
    if state.empty:
        return None
    q = shlex.quote
    lines = [
        "#!/bin/bash",
        "# Rendered by immutable-infra: mounts state kept outside this disposable instance.",
        "set -euo pipefail",
    ]
    for mount in state.efs:
        options = ["_netdev", "tls"]
        if mount.access_point_id:
            options.append(f"accesspoint={mount.access_point_id}")
        if mount.read_only:
            options.append("ro")
        entry = f"{mount.file_system_id}:/ {mount.mount_path} efs {','.join(options)} 0 0"
        lines += [f"mkdir -p {q(mount.mount_path)}", f"echo {q(entry)} >> /etc/fstab",
                  f"mount {q(mount.mount_path)}"]
    if state.data_volumes:
        lines += [
            # IMDSv2 (a session token) works with hop limit 1: this runs on the host.
            "TOKEN=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token"
            " -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')",
            'imds() { curl -fsS -H "X-aws-ec2-metadata-token: $TOKEN"'
            ' "http://169.254.169.254/latest/meta-data/$1"; }',
            "INSTANCE_ID=$(imds instance-id)",
            "REGION=$(imds placement/region)",
            "attach_volume() {",
            '  aws ec2 attach-volume --region "$REGION" --instance-id "$INSTANCE_ID"'
            ' --volume-id "$1" --device "$2"',
            '  aws ec2 wait volume-in-use --region "$REGION" --volume-ids "$1"',
            '  local nvme="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${1/-/}" dev=""',
            "  for _ in $(seq 1 60); do",
            '    for candidate in "$nvme" "$2"; do [ -e "$candidate" ] && dev="$candidate" && break 2; done',
            "    sleep 2",
            "  done",
            '  [ -n "$dev" ] || { echo "volume $1 did not appear" >&2; exit 1; }',
            '  mkdir -p "$3" && mount "$dev" "$3"',
            "}",
        ]
        lines += [f"attach_volume {q(v.volume_id)} {q(v.device_name)} {q(v.mount_path)}"
                  for v in state.data_volumes]
    return "\n".join(lines) + "\n"
