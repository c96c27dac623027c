"""The Docker engine tests' program: the services of ``plan.json`` (next to this file) as
``DockerContainerService``s joined by one ``StackNetwork``, on the engine named by DOCKER_HOST.

plan.json: ``{"services": [{"spec": {...}, "kept": [{...}, ...], "edge_port": <int, optional>}, ...]}`` (active spec first,
then the kept releases newest first, as the example stacks' ledger gives them). With
``"kubernetes_render_dir"`` the same specs also go through the Kubernetes ContainerService,
rendered to that directory (the parity test compares the two).
"""

import json
import os
import pathlib

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s
from immutable_infra import SpecError
from immutable_infra.docker import DockerContainerService, StackNetwork, edge
from immutable_infra.kubernetes import ContainerService

plan = json.loads((pathlib.Path(__file__).parent / "plan.json").read_text())
# The provider reads DOCKER_HOST itself; naming it makes a wrong engine impossible to miss.
engine = docker.Provider("engine", host=os.environ["DOCKER_HOST"])
opts = pulumi.ResourceOptions(providers=[engine])
try:
    if any(s.get("edge_port") for s in plan["services"]):
        edge.require_edge_proxy()  # before anything registers (IMMUTABLE_EDGE_STATE names the proxy)
    network = StackNetwork("apps", {"services": [s["spec"] for s in plan["services"]]}, opts=opts)
    for entry in plan["services"]:
        name = entry["spec"]["name"]
        svc = DockerContainerService(name, {"spec": entry["spec"], "previous": entry.get("kept", []),
                                            "network": network, "exec_break_glass": True,
                                            **({"edge_port": entry["edge_port"]} if entry.get("edge_port") else {})},
                                     opts=opts)
        pulumi.export(f"{name}_address", svc.address)
        pulumi.export(f"{name}_release", svc.release)
        pulumi.export(f"{name}_kept_releases", svc.kept_releases)
        pulumi.export(f"{name}_published_endpoint", svc.published_endpoint)
        pulumi.export(f"{name}_opt_outs", svc.opt_outs)
        pulumi.export(f"{name}_adaptations", svc.adaptations)
    pulumi.export("networks", network.networks)
    if plan.get("kubernetes_render_dir"):
        render = k8s.Provider("render", render_yaml_to_directory=plan["kubernetes_render_dir"])
        for entry in plan["services"]:
            ContainerService(entry["spec"]["name"], {"spec": entry["spec"], "previous": entry.get("kept", []),
                                                     "exec_break_glass": True},
                             opts=pulumi.ResourceOptions(providers=[render]))
except SpecError as error:
    raise pulumi.RunError(str(error)) from None
