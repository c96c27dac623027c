"""Host access through storage: volumes whose backing object reaches the node.

Pod Security "restricted" allows ``persistentVolumeClaim``, ``csi`` and ``ephemeral`` volumes,
and refuses ``hostPath``. A claim, though, binds a PersistentVolume, and a PersistentVolume may
be a ``hostPath`` (or ``local``) volume, or come from a StorageClass whose provisioner makes
host directories. This stack check joins what a pod mounts to what backs it:

- every PersistentVolume of the stack with ``hostPath`` or ``local`` (any claim that matches it
  may bind it, from this stack or not), the runtime's sockets named in the message;
- every StorageClass of the stack whose provisioner makes host paths;
- every workload whose claim (``persistentVolumeClaim``, an ``ephemeral`` claim template or a
  StatefulSet ``volumeClaimTemplates``) reaches such a volume or class by ``volumeName`` or
  ``storageClassName``, and every claim that does;
- inline ``csi`` volumes of host-path drivers, and raw block devices (``volumeDevices``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .common import as_dict, get, iter_dicts, k8s_target
from .kubernetes import containers, pod_template, resolve_namespace
from .stack import Finding, StackResource, _label, _props, _provider, _type, _urn

HOST_PROVISIONERS = ("kubernetes.io/host-path", "rancher.io/local-path", "microk8s.io/hostpath",
                     "k8s.io/minikube-hostpath", "docker.io/hostpath", "openebs.io/local", "hostpath.csi.k8s.io")
"""Provisioners whose volumes are directories (or disks) of the node."""
HOST_CSI_DRIVERS = ("hostpath.csi.k8s.io", "csi-hostpath", "local.csi", "hostpath")
RUNTIME_SOCKETS = ("docker.sock", "containerd.sock", "crio.sock", "cri-dockerd.sock", "kubelet.sock", "/run/containerd",
                   "/var/run/docker", "/var/lib/kubelet", "/var/lib/docker", "/var/lib/containerd")


def _host_backing(props: Mapping[str, Any]) -> str | None:
    """What a PersistentVolume spec reaches on the node, ``None`` when it is not a node path."""
    spec = as_dict(props.get("spec"))
    path = get(spec, "hostPath", "path") if spec.get("hostPath") is not None else get(spec, "local", "path")
    if spec.get("hostPath") is None and spec.get("local") is None:
        driver = get(spec, "csi", "driver")
        if isinstance(driver, str) and any(d in driver for d in HOST_CSI_DRIVERS):
            return f"a directory of the node (CSI driver {driver!r})"
        return None
    kind = "hostPath" if spec.get("hostPath") is not None else "local"
    shown = repr(path) if isinstance(path, str) else "(path not set)"
    socket = isinstance(path, str) and (path.rstrip("/") in ("", "/var/run", "/run") or any(
        s in path for s in RUNTIME_SOCKETS))
    what = " (the container runtime: root on the node and every pod on it)" if socket else ""
    return f"the node's path {shown} ({kind}){what}"


def _claims_of(rtype: str, props: Mapping[str, Any]) -> list[tuple[str, dict[str, Any] | None, str]]:
    """(where, inline claim spec or None, claim name) for each claim a workload uses."""
    pod = pod_template(rtype, props)
    if pod is None:
        return []
    out: list[tuple[str, dict[str, Any] | None, str]] = []
    for index, volume in iter_dicts(pod.spec.get("volumes")):
        name = get(volume, "persistentVolumeClaim", "claimName")
        if isinstance(name, str):
            out.append((f"{pod.path}.volumes[{index}]", None, name))
        template = get(volume, "ephemeral", "volumeClaimTemplate", "spec")
        if isinstance(template, Mapping):
            out.append((f"{pod.path}.volumes[{index}] (ephemeral)", dict(template), ""))
    for index, claim in iter_dicts(get(props, "spec", "volumeClaimTemplates")):
        out.append((f"spec.volumeClaimTemplates[{index}]", as_dict(claim.get("spec")), ""))
    return out


def check_no_host_storage(resources: Sequence[StackResource],
                          config: Mapping[str, Any] | None = None) -> list[Finding]:
    """No volume of the stack, direct or through a claim, reaches the node's filesystem or devices."""
    volumes: dict[str, str] = {}  # PersistentVolume name -> what it reaches
    classes: dict[str, str] = {}  # StorageClass name -> its provisioner
    claims: dict[tuple[str | None, str], tuple[StackResource, dict[str, Any]]] = {}
    workloads: list[StackResource] = []
    out = []
    for resource in resources:
        target = k8s_target(_type(resource))
        if target is None or target.patch:
            continue
        props = _props(resource)
        name = get(props, "metadata", "name")
        if target.kind == ("", "PersistentVolume"):
            reached = _host_backing(props)
            if reached:
                if isinstance(name, str):
                    volumes[name] = reached
                out.append(Finding(f"{_label(resource)} is {reached}: any pod whose claim binds it reads and writes "
                                   "the node; use a StorageClass of network or cloud disks", _urn(resource)))
        elif target.kind == ("storage.k8s.io", "StorageClass"):
            provisioner = props.get("provisioner")
            if isinstance(provisioner, str) and provisioner in HOST_PROVISIONERS:
                if isinstance(name, str):
                    classes[name] = provisioner
                out.append(Finding(f"{_label(resource)} uses provisioner {provisioner!r}, whose volumes are "
                                   "directories or disks of the node; use a provisioner of network or cloud disks",
                                   _urn(resource)))
        elif target.kind == ("", "PersistentVolumeClaim"):
            namespace = resolve_namespace(props, _provider(resource))[0]
            if isinstance(name, str):
                claims[(namespace, name)] = (resource, as_dict(props.get("spec")))
        elif pod_template(_type(resource), props) is not None:
            workloads.append(resource)

    def reach(spec: Mapping[str, Any]) -> str | None:
        volume, storage_class = spec.get("volumeName"), spec.get("storageClassName")
        if isinstance(volume, str) and volume in volumes:
            return f"PersistentVolume {volume!r}, {volumes[volume]}"
        if isinstance(storage_class, str) and storage_class in classes:
            return f"StorageClass {storage_class!r} (provisioner {classes[storage_class]!r})"
        return None

    for _key, (resource, spec) in sorted(claims.items(), key=lambda kv: str(kv[0])):
        if reached := reach(spec):
            out.append(Finding(f"{_label(resource)} binds {reached}; claim a volume of network or cloud storage",
                               _urn(resource)))
    for resource in workloads:
        props = _props(resource)
        namespace = resolve_namespace(props, _provider(resource))[0]
        for where, inline, claim_name in _claims_of(_type(resource), props):
            spec = inline if inline is not None else claims.get((namespace, claim_name), (None, {}))[1]
            if reached := reach(spec):
                out.append(Finding(f"{_label(resource)}: {where} reaches {reached} through its claim; mount a "
                                   "volume of network or cloud storage (or an emptyDir)", _urn(resource)))
        pod = pod_template(_type(resource), props)
        assert pod is not None
        for index, volume in iter_dicts(pod.spec.get("volumes")):
            driver = get(volume, "csi", "driver")
            if isinstance(driver, str) and any(d in driver for d in HOST_CSI_DRIVERS):
                out.append(Finding(f"{_label(resource)}: {pod.path}.volumes[{index}] is an inline CSI volume of "
                                   f"driver {driver!r}, a directory of the node; use an emptyDir or a claim of network "
                                   "storage", _urn(resource)))
        for c in containers(pod):
            devices = [str(d.get("devicePath")) for _, d in iter_dicts(c.data.get("volumeDevices"))]
            if devices:
                out.append(Finding(f"{_label(resource)}: {c.label} maps raw block devices {devices} "
                                   "(volumeDevices); mount a filesystem volume (volumeMounts) instead", _urn(resource)))
    return out

