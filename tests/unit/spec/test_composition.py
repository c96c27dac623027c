"""Components that compose: Inputs in, Outputs from the children out, one constructor shape.

Under Pulumi mocks (``k8s_harness``): every test resolves the Outputs it checks.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from immutable_infra import MANAGED_BY, ContainerServiceSpec, SpecError
from immutable_infra.aws import tags as aws_tags
from immutable_infra.docker import DockerContainerService, StackNetwork
from immutable_infra.docker import run_options as ro
from immutable_infra.kubernetes import ContainerService, ServiceNamespace
from immutable_infra.kubernetes import manifests as m

from ..docker.test_docker_container_service import engine_outputs
from ..k8s_harness import run_program

IMAGE = "registry.example.com/acme/web@sha256:" + "a" * 64
IMAGE_B = "registry.example.com/acme/web@sha256:" + "b" * 64
SECRET_VALUE = "s3cr3t-from-config"
SECRET_SIG_KEY, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def service(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "web", "image": IMAGE,
        "ports": [{"name": "http", "container_port": 8080, "service_port": 80}],
        "resources": {"cpu_request": "10m", "cpu_limit": "100m", "memory_request": "16Mi", "memory_limit": "32Mi"},
        "probes": {"liveness": {"tcp_port": 8080}, "readiness": {"tcp_port": 8080}},
    }
    return {**spec, **overrides}


def resources_of(output: pulumi.Output[Any]) -> pulumi.Output[list[str]]:
    """The Pulumi names of the resources an Output depends on (what a dependent waits for)."""
    return pulumi.Output.from_input(output.resources()).apply(lambda rs: sorted(r._name for r in rs))  # type: ignore[attr-defined]


def captured_options() -> dict[str, pulumi.ResourceOptions]:
    """Every resource's options, recorded by a stack transformation (call inside the program)."""
    seen: dict[str, pulumi.ResourceOptions] = {}

    def capture(args: pulumi.ResourceTransformationArgs) -> None:
        seen[args.name] = args.opts

    pulumi.runtime.register_stack_transformation(capture)
    return seen


# --- Outputs come from the children ------------------------------------------------------------


def test_kubernetes_outputs_come_from_the_children_and_carry_them_as_dependencies() -> None:
    def program() -> dict[str, Any]:
        ns = ServiceNamespace("apps", {"spec": {"name": "shop"}})
        svc = ContainerService("web", {"spec": service(strategy="blue-green"), "namespace": ns.name})
        return {"endpoint": svc.endpoint, "service_name": svc.service_name, "namespace": svc.namespace,
                "selector": svc.selector_labels, "ports": svc.ports, "release": svc.release,
                "endpoint_deps": resources_of(svc.endpoint), "namespace_deps": resources_of(svc.namespace),
                "selector_deps": resources_of(svc.selector_labels)}

    result = run_program(program)
    rid = ContainerServiceSpec.model_validate(service(strategy="blue-green")).release
    out = result.outputs
    assert out["endpoint"] == "http://web.shop.svc.cluster.local:80"
    assert (out["service_name"], out["namespace"], out["ports"]) == ("web", "shop", {"http": 80})
    assert out["selector"] == {"app.kubernetes.io/name": "web", "immutable.dev/release": rid}
    assert out["endpoint_deps"] == ["web-svc"]
    assert out["namespace_deps"] == ["web-sa"]
    assert out["selector_deps"] == [f"web-{rid}"]
    # The namespace Output reached every namespaced child; the namespace's own exec lock covers it.
    namespaced = [r for r in result.resources if r.type.startswith("kubernetes:") and "namespace" in
                  r.inputs.get("metadata", {})]
    assert {r.inputs["metadata"]["namespace"] for r in namespaced if r.name != "apps-default-deny"} == {"shop"}
    lock = result.named("apps-exec-lock").inputs
    assert lock["metadata"]["name"] == "shop.exec-lock"
    assert lock["spec"]["matchConstraints"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "shop"}


def test_a_service_without_a_service_object_has_none_endpoint_and_name() -> None:
    def program() -> dict[str, Any]:
        svc = ContainerService("worker", {"spec": service(name="worker", ports=[], probes={
            "liveness": {"exec_command": ["true"]}, "readiness": {"exec_command": ["true"]}})})
        return {"endpoint": svc.endpoint, "service_name": svc.service_name, "ports": svc.ports}

    assert run_program(program).outputs == {"endpoint": None, "service_name": None, "ports": {}}


def test_one_service_endpoint_feeds_another_ones_env_and_does_not_change_its_release() -> None:
    def program() -> dict[str, Any]:
        api = ContainerService("api", {"spec": service(name="api")})
        web = ContainerService("web", {"spec": service(state={"endpoints": [
            {"name": "API_URL", "url": api.endpoint, "version": "v1"}]})})
        return {"release": web.release}

    result = run_program(program)
    web = next(r for r in result.resources if r.name == "web-deploy")
    env = web.inputs["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "API_URL", "value": "http://api.apps.svc.cluster.local:80"} in env

    # The release records the wiring and its version, not the value: the same with another URL source,
    # another release with another version, and refused without a version (the value would be unpinned).
    def spec(url: Any, **version: str) -> dict[str, Any]:
        return service(state={"endpoints": [{"name": "API_URL", "url": url, **version}]})

    other = pulumi.Output.from_input("x://y")
    assert result.outputs["release"] == ContainerServiceSpec.model_validate(spec(other, version="v1")).release
    assert result.outputs["release"] != ContainerServiceSpec.model_validate(spec(other, version="v2")).release
    with pytest.raises(SpecError) as refused:
        ContainerServiceSpec.model_validate(spec(other))
    assert refused.value.paths == ["state.endpoints[0].version"]


def test_docker_outputs_come_from_the_children() -> None:
    api = service(name="api", network={"ingress_from": [{"service": "web"}]})
    web = service(network={"egress_to": [{"service": "api"}], "ingress_from": [{"ingress_controller": True}]},
                  expose={"ingress": {"hostname": "web.example.com", "tls_secret": "web-tls"}})

    def program() -> dict[str, Any]:
        net = StackNetwork("apps", {"services": [api, web]})
        svc = DockerContainerService("web", {"spec": web, "network": net, "exec_break_glass": True})
        return {"endpoint": svc.endpoint, "service_name": svc.service_name, "namespace": svc.namespace,
                "ports": svc.ports, "networks": svc.network_names, "published_ports": svc.published_ports,
                "net_names": net.networks, "endpoint_deps": resources_of(svc.endpoint)}

    with engine_outputs():
        result = run_program(program)
    out = result.outputs
    rid = ContainerServiceSpec.model_validate(web).release
    assert out["endpoint"] == "http://web.apps.svc.cluster.local:8080"
    assert (out["service_name"], out["namespace"], out["ports"]) == ("web", "apps", {"http": 8080})
    assert out["networks"] == ["immutable-example-dev-apps-web-edge-loopback", "immutable-example-dev-apps-web-to-api"]
    assert out["net_names"] == {"web-to-api": "immutable-example-dev-apps-web-to-api"}
    assert out["endpoint_deps"] == [f"web-{rid}-0"]
    assert out["published_ports"] == {"http": 32768}


# --- Inputs in ----------------------------------------------------------------------------------


def test_secret_from_config_stays_secret_and_its_version_names_the_release() -> None:
    def program() -> dict[str, Any]:
        value = pulumi.Output.secret(SECRET_VALUE)
        svc = ContainerService("web", {"spec": service(secrets=[{"name": "db", "value": value, "version": "v1"}])})
        return {"release": svc.release}

    result = run_program(program)
    (secret,) = result.of_type("kubernetes:core/v1:Secret")
    # Sent to the engine as a secret (the SDK's secret envelope), never as a plain value.
    assert secret.inputs["stringData"] == {SECRET_SIG_KEY: SECRET_SIG, "value": {"db": SECRET_VALUE}}
    # The same version label with another value is the same release: the label stands for the value.
    plain = ContainerServiceSpec.model_validate(service(secrets=[{"name": "db", "value": "other", "version": "v1"}]))
    assert result.outputs["release"] == plain.release


def test_secret_output_needs_a_version_and_says_so() -> None:
    with pytest.raises(SpecError) as info:
        run_program(lambda: ContainerService("web", {"spec": service(secrets=[
            {"name": "db", "value": pulumi.Output.secret(SECRET_VALUE)}])}) and None)
    problem = info.value.problem_at("secrets[0].version")
    assert "needs `version`" in problem.message and "version" in problem.fix
    assert SECRET_VALUE not in str(info.value)


def test_an_image_output_is_refused_with_the_reason_and_what_to_do() -> None:
    with pytest.raises(SpecError) as info:
        run_program(lambda: ContainerService("web", {"spec": service(image=pulumi.Output.from_input(IMAGE))}) and None)
    problem = info.value.problem_at("image")
    assert "release id" in problem.message and "digest" in problem.fix


def test_an_output_in_a_release_field_is_refused_with_its_path() -> None:
    with pytest.raises(SpecError) as info:
        run_program(lambda: ContainerService("web", {"spec": service(env={"MODE": pulumi.Output.from_input("x")})})
                    and None)
    assert info.value.paths == ["env.MODE"]
    assert "state.endpoints[].url" in info.value.problem_at("env.MODE").fix


def test_hostname_and_tls_secret_may_be_outputs() -> None:
    def program() -> dict[str, Any]:
        host = pulumi.Output.from_input("shop.example.com")
        tls = pulumi.Output.from_input("shop-tls")
        ContainerService("web", {"spec": service(expose={"ingress": {"hostname": host, "tls_secret": tls}},
                                                 network={"ingress_from": [{"ingress_controller": True}]})})
        return {}

    ingress = run_program(program).named("web-ingress").inputs["spec"]
    assert ingress["rules"][0]["host"] == "shop.example.com"
    assert ingress["tls"] == [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}]


def test_namespace_given_twice_is_refused() -> None:
    with pytest.raises(SpecError) as info:
        run_program(lambda: ContainerService("web", {"spec": service(namespace="shop"),
                                                     "namespace": pulumi.Output.from_input("shop")}) and None)
    assert info.value.paths == ["namespace"]


def test_docker_refuses_a_namespace_output() -> None:
    with pytest.raises(SpecError) as info:
        run_program(lambda: DockerContainerService("web", {"spec": service(), "exec_break_glass": True,
                                                           "namespace": pulumi.Output.from_input("apps")}) and None)
    assert info.value.paths == ["namespace"]


def test_spec_error_is_a_pulumi_input_properties_error_with_property_paths() -> None:
    with pytest.raises(pulumi.InputPropertiesError) as info:
        run_program(lambda: ContainerService("web", {"spec": service(image="nginx:latest", replicas=-1)}) and None)
    assert isinstance(info.value, SpecError)
    # every problem at once: the bad replica count and the unpinned image
    assert [e["property_path"] for e in info.value.errors or []] == info.value.paths == ["replicas", "image"]
    assert all("fix:" in e["reason"] for e in info.value.errors or [])


# --- upgrade safety: aliases -------------------------------------------------------------------


def test_release_objects_renamed_in_ade8425_carry_an_alias_to_their_old_name() -> None:
    spec = service(config_files=[{"name": "app.conf", "content": "x"}], secrets=[{"name": "db", "value": "v"}])
    seen: list[dict[str, pulumi.ResourceOptions]] = []

    def program() -> dict[str, Any]:
        seen.append(captured_options())
        ContainerService("payments-web", {"spec": spec})  # component and service named differently
        ContainerService("web", {"spec": spec})            # the same name: nothing was renamed
        return {}

    run_program(program)
    valid = ContainerServiceSpec.model_validate(spec)
    cm, secret = m.config_map_name(valid), m.secret_name(valid)
    assert cm is not None and secret is not None
    renamed = {name: names for name, opts in seen[0].items()
               if (names := [a.name for a in opts.aliases or [] if isinstance(a, pulumi.Alias) and isinstance(a.name, str)])}
    assert renamed == {cm.replace("web", "payments-web", 1): [cm], secret.replace("web", "payments-web", 1): [secret]}


# --- one API ------------------------------------------------------------------------------------


def test_one_type_token_name_and_one_managed_by_value() -> None:
    from immutable_infra.aws import ServerGroup

    tokens = [c.TYPE_TOKEN for c in (ContainerService, ServiceNamespace, DockerContainerService, StackNetwork,
                                      ServerGroup)]
    assert tokens == ["immutable:kubernetes:ContainerService", "immutable:kubernetes:ServiceNamespace",
                      "immutable:docker:ContainerService", "immutable:docker:StackNetwork", "immutable:aws:ServerGroup"]
    assert m.MANAGED_BY == ro.MANAGED_BY == aws_tags.MANAGED_BY == MANAGED_BY


def test_previous_is_newest_first_on_every_platform() -> None:
    old, new = service(strategy="blue-green", image=IMAGE), service(strategy="blue-green", image=IMAGE_B)

    def program() -> dict[str, Any]:
        k8s = ContainerService("web", {"spec": new, "previous": [old]})
        dock = DockerContainerService("dweb", {"spec": new, "previous": [old], "exec_break_glass": True})
        return {"k8s": k8s.kept_releases, "docker": dock.kept_releases}

    out = run_program(program).outputs
    old_id = ContainerServiceSpec.model_validate(old).release
    assert out == {"k8s": [old_id], "docker": [old_id]}


# --- old spellings: removed in 0.2.0 (CHANGELOG.md), each refused with a clear error --------------


def test_old_kubernetes_spellings_are_removed() -> None:
    old, new = service(strategy="blue-green", image=IMAGE), service(strategy="blue-green", image=IMAGE_B)
    with pytest.raises(TypeError, match=r"has no 'spec'.*no longer takes the spec itself"):
        run_program(lambda: ContainerService("web", new) and None)
    with pytest.raises(TypeError, match="kept"):
        run_program(lambda: ContainerService("web", {"spec": new}, kept=[old]) and None)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="exec_break_glass"):
        run_program(lambda: ContainerService("web", {"spec": new}, exec_break_glass=True) and None)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="positional"):
        run_program(lambda: ServiceNamespace("apps", {"spec": {"name": "apps"}}, None) and None)  # type: ignore[misc]
    with pytest.raises(TypeError, match="no longer takes the spec itself"):
        run_program(lambda: ContainerService("web", ContainerServiceSpec.model_validate(new)) and None)  # type: ignore[arg-type]


def test_old_docker_spellings_are_removed() -> None:
    with pytest.raises(TypeError, match="no longer takes the list of specs"):
        run_program(lambda: StackNetwork("apps", [service()]) and None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scope"):
        run_program(lambda: StackNetwork("apps", {"services": [service()]}, scope="x") and None)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="network"):
        run_program(lambda: DockerContainerService("web", {"spec": service()}, network=None) and None)  # type: ignore[call-arg]


def test_old_aws_history_is_removed_and_previous_is_newest_first() -> None:
    from immutable_infra.aws import ServerGroup, ServerGroupSpec

    from ..aws_mocks import AMI_A, AMI_B, AMI_C, WIRING, run, server_group_spec

    a, b, c = (server_group_spec(ami_id=ami, keep_previous=2) for ami in (AMI_A, AMI_B, AMI_C))
    with pytest.raises(TypeError, match="history"):
        run(lambda: ServerGroup("web", {"spec": c, **WIRING}, history=[a, b]), outputs=("kept_releases",))  # type: ignore[call-arg]
    new_shape = run(lambda: ServerGroup("web", {"spec": c, "previous": [b, a], **WIRING}), outputs=("kept_releases",))
    ids = [ServerGroupSpec.model_validate(spec).release for spec in (b, a)]
    assert new_shape.outputs["kept_releases"] == ids


def test_old_type_token_constants_are_removed() -> None:
    import immutable_infra.aws as aws_pkg
    import immutable_infra.aws.server_group as sg_module
    import immutable_infra.docker as docker_pkg

    for module, name in ((aws_pkg, "SERVER_GROUP_TYPE"), (sg_module, "TYPE"), (docker_pkg, "NETWORK_TYPE_TOKEN")):
        assert not hasattr(module, name), name
    assert aws_pkg.TYPE_TOKEN == sg_module.TYPE_TOKEN == "immutable:aws:ServerGroup"
    assert docker_pkg.StackNetwork.TYPE_TOKEN == "immutable:docker:StackNetwork"


def test_args_without_spec_are_refused_clearly() -> None:
    with pytest.raises(TypeError, match="has no 'spec'"):
        run_program(lambda: ContainerService("web", {"previous": [service()], "exec_break_glass": True}) and None)
    with pytest.raises(TypeError, match="unknown args"):
        run_program(lambda: ContainerService("web", {"spec": service(), "kept": []}) and None)


def test_the_instance_security_group_output_is_stable_across_releases() -> None:
    from immutable_infra.aws import ServerGroup

    from ..aws_mocks import AMI_A, AMI_B, WIRING, run, server_group_spec

    outputs = ("instance_security_group_id", "release")
    first = run(lambda: ServerGroup("web", {"spec": server_group_spec(ami_id=AMI_A), **WIRING}), outputs=outputs)
    second = run(lambda: ServerGroup("web", {"spec": server_group_spec(ami_id=AMI_B),
                                             "previous": [server_group_spec(ami_id=AMI_A)], **WIRING}), outputs=outputs)
    assert first.outputs["release"] != second.outputs["release"]
    assert first.outputs["instance_security_group_id"] == second.outputs["instance_security_group_id"] == "web-instances-sg-id"
    # instance-refresh keeps one security group for every release: that one is the stable group.
    refresh = run(lambda: ServerGroup("web", {"spec": server_group_spec(strategy="instance-refresh"), **WIRING}),
                  outputs=outputs)
    assert refresh.outputs["instance_security_group_id"] == "web-sg-id"
    assert "web-instances-sg" not in refresh.names
