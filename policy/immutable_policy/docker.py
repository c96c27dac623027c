"""Docker checks for ``docker:index/container:Container`` (pulumi-docker 5).

The Docker ContainerService uses the same spec (and so the same opt-out names) as the
Kubernetes one: a container labelled ``immutable.dev/opt-out-<name>=true`` with a label
``immutable.dev/opt-out-reason-<name>`` holding a real reason (the components' rule) is exempt from the part
of a rule that opt-out names. Docs: https://docs.docker.com/engine/security/
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .common import (
    NO_CONTEXT,
    Context,
    as_int,
    as_list,
    get,
    is_unknown,
    opt_out_reason_keys,
    opt_outs,
    tags_map,
    truthy,
    valid_opt_outs,
)
from .shared import IMAGE_FIX, REASON_FIX, credential_kind, looks_like_secret_name, parse_image

CONTAINER = "docker:index/container:Container"
COMPUTE_TYPES = frozenset({CONTAINER})

IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")
"""An image id (``RemoteImage.image_id``); references are parsed by ``immutable_infra.rules``."""
ROOT_USERS = frozenset({"", "0", "root"})
NO_NEW_PRIVILEGES = frozenset({"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"})


def _labels(props: Mapping[str, Any]) -> dict[str, Any]:
    return tags_map(props.get("labels"))


def _exempt(props: Mapping[str, Any]) -> set[str]:
    return valid_opt_outs(_labels(props))


def check_image_digest(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """Image by digest; opt-out ``mutable_image_tag``."""
    if resource_type != CONTAINER or "mutable_image_tag" in _exempt(props):
        return []
    image = props.get("image")
    if is_unknown(image) or (isinstance(image, str) and IMAGE_ID.fullmatch(image)):
        return []
    if not isinstance(image, str) or not image:
        return ["image is not set; give one pinned by digest (repo@sha256:<64 hex>)"]
    try:
        ref = parse_image(image)
    except ValueError as exc:
        return [f"image {image!r} is not a valid image reference ({exc}); {IMAGE_FIX}"]
    if ref.pinned:
        return []
    return [f"image {image!r} is not pinned by digest; use repo@sha256:<64 hex> or a RemoteImage's "
            "image_id (a tag can be moved to other content)"]


def check_non_root(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """The process runs as a non-root user; opt-out ``run_as_root``."""
    if resource_type != CONTAINER or "run_as_root" in _exempt(props):
        return []
    user = props.get("user")
    if is_unknown(user):
        return []
    name = str(user).split(":")[0].strip() if user is not None else ""
    if name in ROOT_USERS:
        shown = "not set (the image's USER, often root)" if user is None else repr(user)
        return [f"user is {shown}; set user to a UID:GID of 10000 or more, e.g. '10001:10001'"]
    return []


def check_read_only_rootfs(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """Read-only root filesystem (tmpfs mounts for scratch); opt-out ``writable_root_filesystem``."""
    if resource_type != CONTAINER or "writable_root_filesystem" in _exempt(props):
        return []
    value = props.get("readOnly")
    if is_unknown(value) or truthy(value):
        return []
    return ["readOnly is not true; set read_only=True and mount a tmpfs where the process writes"]


def check_no_privileged(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """No privileged mode (it gives the container every device and capability of the host)."""
    if resource_type != CONTAINER or not truthy(props.get("privileged")):
        return []
    return ["privileged is true; drop it (add only the single capability the process needs)"]


def check_no_host_network(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """No host network (nor host PID/IPC/user namespaces)."""
    if resource_type != CONTAINER:
        return []
    out = []
    for key, what in (("networkMode", "network"), ("pidMode", "PID"), ("ipcMode", "IPC"),
                      ("usernsMode", "user")):
        if props.get(key) == "host":
            fix = "use a user-defined bridge network" if key == "networkMode" else f"remove {key}"
            out.append(f"{key} is 'host': the container shares the host's {what} namespace; {fix}")
    return out


def check_no_new_privileges(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """``security_opts`` holds ``no-new-privileges``; opt-out ``privilege_escalation``."""
    if resource_type != CONTAINER or "privilege_escalation" in _exempt(props):
        return []
    opts = props.get("securityOpts")
    if is_unknown(opts) or any(str(o).replace(" ", "") in NO_NEW_PRIVILEGES for o in as_list(opts)):
        return []
    return ["securityOpts lacks 'no-new-privileges:true' (setuid binaries could gain privileges); add it to "
            "security_opts"]


def check_drop_capabilities(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """All capabilities dropped; at most NET_BIND_SERVICE added back."""
    if resource_type != CONTAINER:
        return []
    caps = props.get("capabilities")
    if is_unknown(caps):
        return []
    out = []
    drops = [str(d).upper().removeprefix("CAP_") for d in as_list(get(caps, "drops"))]
    if "ALL" not in drops:
        out.append("capabilities.drops does not include ALL; set capabilities.drops to ['ALL']")
    for cap in as_list(get(caps, "adds")):
        if str(cap).upper().removeprefix("CAP_") != "NET_BIND_SERVICE":
            out.append(f"capabilities.adds includes {cap}; remove it (only NET_BIND_SERVICE may be added back)")
    return out


def check_resource_limits(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """A memory limit and a CPU limit, so one container cannot starve the others."""
    if resource_type != CONTAINER:
        return []
    out = []
    memory = props.get("memory")
    if not is_unknown(memory) and not (as_int(memory) or 0) > 0:
        out.append("memory (MB) is not set; give the container a memory limit")
    cpus = props.get("cpus")
    quota = props.get("cpuQuota")
    if not any(is_unknown(v) for v in (cpus, quota)) and cpus in (None, "") and not (as_int(quota) or 0) > 0:
        out.append("neither cpus nor cpuQuota is set; give the container a CPU limit")
    return out


def check_healthcheck(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """A health check, so a replacement is only trusted once it is healthy."""
    if resource_type != CONTAINER:
        return []
    tests = get(props, "healthcheck", "tests")
    if is_unknown(tests):
        return []
    tests = as_list(tests)
    if not tests or str(tests[0]).upper() == "NONE":
        return ["healthcheck.tests is not set; add a health check (e.g. ['CMD', '/app', 'health'])"]
    return []


def check_opt_out_reason(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """Every ``immutable.dev/opt-out-*`` label comes with a reason label."""
    if resource_type != CONTAINER:
        return []
    out = []
    for record in opt_outs(_labels(props)):
        if not record.valid:
            out.append(f"label {record.label!r} opts out of {record.name} but {record.problem}, so it lifts "
                       f"nothing; in the label {opt_out_reason_keys(record.name)[0]!r}, {REASON_FIX}")
    return out


def check_no_plaintext_secret(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """No secret in clear in ``envs`` (``NAME=value``) or the command: the components' own rules
    (a secret-looking name, or a value in a known credential format). Values are never echoed."""
    if resource_type != CONTAINER:
        return []
    out = []
    for index, entry in enumerate(as_list(props.get("envs"))):
        if not isinstance(entry, str):
            continue
        name, _, value = entry.partition("=")
        if not value:
            continue
        if looks_like_secret_name(name):
            out.append(f"envs[{index}] ({name!r}) looks like a secret and has its value in clear (in the container's "
                       "config and the state); mount it as a file (a tmpfs or a read-only volume) instead")
        elif kind := credential_kind(value):
            out.append(f"envs[{index}] ({name!r}) holds {kind} in clear; mount it as a file instead")
    for field in ("command", "entrypoints"):
        for index, arg in enumerate(as_list(props.get(field))):
            if isinstance(arg, str) and (kind := credential_kind(arg)):
                out.append(f"{field}[{index}] holds {kind} in clear; read it from a file instead")
    return out + check_label_secrets(props)


# --- runtime escape hatches, exposure, Swarm (issue 31) ----------------------------------------

SERVICE = "docker:index/service:Service"
ENGINE_SOCKETS = ("docker.sock", "containerd.sock", "crio.sock", "podman.sock", "/run/containerd", "/var/run/docker",
                  "/var/lib/docker")
UNCONFINED = ("seccomp=unconfined", "seccomp:unconfined", "apparmor=unconfined", "apparmor:unconfined",
              "label=disable", "label:disable", "systempaths=unconfined", "systempaths:unconfined")
ALL_INTERFACES = ("", "0.0.0.0", "::", "[::]")
EXPOSURE_OPT_OUT = "exposed_service"


PROBE_TARGET = "/.immutable/probe"
"""Where DockerContainerService mounts the project's probe binary (run_options.PROBE_PATH)."""


def _is_probe_binary(mount: Any) -> bool:
    """The one bind mount the Docker component makes: the project's static probe binary
    (``.../probe``), read-only at ``PROBE_TARGET``, so HTTP and TCP health checks need no
    shell in the image. Anything else at that target, or writable, is still a host path."""
    source = get(mount, "source")
    return (get(mount, "target") == PROBE_TARGET and get(mount, "readOnly") is True
            and isinstance(source, str) and source.startswith("/") and source.rsplit("/", 1)[-1] == "probe")


def _host_paths(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(where, host path) of every bind mount and host-path volume of a container."""
    out = []
    for index, volume in enumerate(as_list(props.get("volumes"))):
        path = get(volume, "hostPath")
        if isinstance(path, str) and path:
            out.append((f"volumes[{index}].hostPath", path))
    for index, mount in enumerate(as_list(props.get("mounts"))):
        if get(mount, "type") == "bind" and isinstance(get(mount, "source"), str):
            source = get(mount, "source")
            if _is_probe_binary(mount) and not any(s in source for s in ENGINE_SOCKETS):
                continue
            out.append((f"mounts[{index}] (bind)", source))
    return out


def check_no_host_access(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """No way out to the host: bind mounts of host paths (the engine's socket above all), host
    devices, unconfined seccomp/AppArmor/SELinux/system paths, the host's cgroup namespace."""
    if resource_type != CONTAINER:
        return []
    out = []
    for where, path in _host_paths(props):
        if any(s in path for s in ENGINE_SOCKETS) or path.rstrip("/") in ("", "/var/run", "/run"):
            out.append(f"{where} binds {path!r}, the container engine's socket or state: whoever runs in the "
                       "container controls the engine, which is root on the host; remove the mount")
        else:
            out.append(f"{where} binds the host's {path!r} into the container; use a named volume (docker.Volume) "
                       "or a tmpfs instead")
    for index, device in enumerate(as_list(props.get("devices"))):
        shown = get(device, "hostPath")
        out.append(f"devices[{index}] gives the container the host device {shown!r}; remove it")
    for opt in as_list(props.get("securityOpts")):
        if str(opt).replace(" ", "").lower() in UNCONFINED:
            out.append(f"securityOpts has {opt!r}, which switches off the container's kernel confinement; remove it "
                       "(the engine's default profile applies)")
    if props.get("cgroupnsMode") == "host":
        out.append("cgroupnsMode is 'host': the container sees and may write the host's cgroups; set it to 'private'")
    return out


def check_published_ports(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """Ports are published on a named address (``127.0.0.1`` behind a proxy), never on all
    interfaces; opt-out ``exposed_service`` (listed with its reason)."""
    if resource_type != CONTAINER or EXPOSURE_OPT_OUT in _exempt(props):
        return []
    out = []
    for index, port in enumerate(as_list(props.get("ports"))):
        ip = get(port, "ip")
        if is_unknown(ip) or not isinstance(port, Mapping):
            continue
        if ip is None or str(ip).strip() in ALL_INTERFACES:
            out.append(f"ports[{index}] (internal {get(port, 'internal')}) is published on all interfaces "
                       f"(ip {ip!r}): every network the host is on reaches it; set ip: '127.0.0.1' (and publish "
                       "through a proxy), or record an exposed_service opt-out with a reason")
    return out


def check_no_swarm_service(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """No Swarm service: its tasks are not judged by this pack, it publishes ports on every node
    through the routing mesh and ``docker service update`` changes it in place."""
    if resource_type != SERVICE:
        return []
    return ["a Swarm service (docker.Service) runs tasks this pack does not judge, publishes on every node through "
            "the routing mesh and is updated in place; use docker.Container resources instead (what "
            "DockerContainerService creates)"]


def check_label_secrets(props: Mapping[str, Any]) -> list[str]:
    """Credentials in a container's labels (shown by every ``docker inspect``)."""
    return [f"labels[{key!r}] holds {kind} in clear (every docker inspect shows it); mount it as a file instead"
            for key, value in _labels(props).items() if isinstance(value, str) and (kind := credential_kind(value))]
