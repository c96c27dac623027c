"""Bad input, third pass: one table per class of mistake, through every component.

Each case is what a user (or an attacker) hands a component: the args object with its spec.
For every case, all at once: the exact set of paths reported, each named from the user's
entry point (``services[0].image``, ``subnet_ids[1]``, the args' own ``namespace``); nothing
registered; no secret value in the error. The classes (docs/bad-input.md): trailing newlines
and full-match patterns, strict flags and whole numbers, the distribution grammar of image
references, args-level values, strings embedded in CEL, platform limits, and every problem
of every stage at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest
from immutable_infra import SpecError
from immutable_infra.aws import ServerGroup
from immutable_infra.docker import DockerContainerService, StackNetwork
from immutable_infra.kubernetes import ContainerService, ServiceNamespace

from ..aws_mocks import CERT, LB_SUBNETS, SUBNETS, VPC, WIRING, server_group_spec
from ..aws_mocks import run as run_aws
from ..fixtures import IMAGE_B, service
from ..k8s_harness import run_program
from .cases import AWS_KEY_ID, assert_safe, with_

DIGEST = "sha256:" + "d" * 64
REASON = {"reason": "reviewed exception, ticket SEC-42"}
INGRESS = {"hostname": "app.example.com", "tls_secret": "app-tls"}
DOCKER_OK = {"security": {"opt_outs": {"exec_lock": REASON}}}
Args = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    id: str
    component: str  # k8s | docker | namespace | network | aws
    args: Args
    paths: tuple[str, ...]


def output(value: str) -> pulumi.Output[str]:
    return pulumi.Output.from_input(value)


def k8s(case_id: str, paths: str | tuple[str, ...], changes: dict[str, Any] | None = None, **args: Any) -> Case:
    def build() -> dict[str, Any]:
        return {"spec": with_(service(), changes or {}), **{k: v() if callable(v) else v for k, v in args.items()}}
    return Case(case_id, "k8s", build, (paths,) if isinstance(paths, str) else paths)


def docker(case_id: str, paths: str | tuple[str, ...], changes: dict[str, Any] | None = None, **args: Any) -> Case:
    def build() -> dict[str, Any]:
        spec = with_(with_(service(), {"security.opt_outs.exec_lock": REASON}), changes or {})
        return {"spec": spec, **{k: v() if callable(v) else v for k, v in args.items()}}
    return Case(case_id, "docker", build, (paths,) if isinstance(paths, str) else paths)


def namespace(case_id: str, paths: str | tuple[str, ...], spec: dict[str, Any], **args: Any) -> Case:
    return Case(case_id, "namespace", lambda: {"spec": spec, **args}, (paths,) if isinstance(paths, str) else paths)


def network(case_id: str, paths: str | tuple[str, ...], **args: Any) -> Case:
    return Case(case_id, "network", lambda: {"services": [service()], **args},
                (paths,) if isinstance(paths, str) else paths)


def aws(case_id: str, paths: str | tuple[str, ...], changes: dict[str, Any] | None = None, **args: Any) -> Case:
    def build() -> dict[str, Any]:
        wiring = {**WIRING, **{k: v() if callable(v) else v for k, v in args.items()}}
        return {"spec": with_(server_group_spec(), changes or {}), **wiring}
    return Case(case_id, "aws", build, (paths,) if isinstance(paths, str) else paths)


CYRILLIC_E = "\u0435"  # looks like 'e'
FULLWIDTH_1 = "\uff11"  # looks like '1'
ARABIC_1 = "\u0661"  # a digit for \d without re.ASCII

TRAILING_NEWLINE = [
    k8s("name", "name", {"name": "web\n"}),
    k8s("spec namespace", "namespace", {"namespace": "apps\n"}),
    k8s("env name", "env['LOG\\n']", {"env": {"LOG\n": "x"}}),
    k8s("config file name", "config_files[0].name", {"config_files[0].name": "app.toml\n"}),
    k8s("secret name", "secrets[0].name", {"secrets[0].name": "db-password\n"}),
    k8s("config dir", "config_dir", {"config_dir": "/etc/app\n"}),
    k8s("secrets dir", "secrets_dir", {"secrets_dir": "/var/run/secrets/app\n"}),
    k8s("scratch dir", "security.scratch_dirs[0]", {"security.scratch_dirs": ["/tmp\n"]}),
    k8s("tls secret", "expose.ingress.tls_secret", {"expose.ingress": {**INGRESS, "tls_secret": "app-tls\n"}}),
    k8s("ingress class", "expose.ingress.class_name", {"expose.ingress": {**INGRESS, "class_name": "nginx\n"}}),
    k8s("hostname", "expose.ingress.hostname", {"expose.ingress": {**INGRESS, "hostname": "app.example.com\n"}}),
    k8s("ingress path", "expose.ingress.path", {"expose.ingress": {**INGRESS, "path": "/\n"}}),
    k8s("ingress namespace", "expose.ingress_namespace", {"expose.ingress_namespace": "ingress-nginx\n"}),
    k8s("peer service", "network.ingress_from[0].service", {"network.ingress_from": [{"service": "api\n"}]}),
    k8s("peer namespace", "network.ingress_from[0].namespace", {"network.ingress_from": [{"namespace": "ops\n"}]}),
    k8s("egress service", "network.egress_to[0].service", {"network.egress_to": [{"service": "db\n"}]}),
    k8s("claim name", "state.volumes[0].claim_name",
        {"state.volumes": [{"claim_name": "data\n", "mount_path": "/data"}]}),
    k8s("volume mount path", "state.volumes[0].mount_path",
        {"state.volumes": [{"claim_name": "data", "mount_path": "/data\n"}]}),
    k8s("endpoint name", "state.endpoints[0].name",
        {"state.endpoints": [{"name": "DATABASE_URL\n", "url": "postgres://db.internal:5432/app"}]}),
    k8s("port name", "ports[0].name", {"ports[0].name": "http\n"}),
    k8s("probe path", "probes.liveness.http_get.path", {"probes.liveness.http_get.path": "/healthz\n"}),
    k8s("monitoring path", "monitoring.path", {"monitoring.path": "/metrics\n"}),
    k8s("break-glass group", "security.break_glass_group", {"security.break_glass_group": "sre\n"}),
    k8s("label key", "labels['team\\n']", {"labels": {"team\n": "web"}}),
    k8s("label value", "labels.team", {"labels": {"team": "web\n"}}),
    k8s("image", "image", {"image": f"registry.example.com/acme/web@{DIGEST}\n"}),
    k8s("args namespace", "namespace", namespace="apps\n"),
    namespace("namespace name", "name", {"name": "apps\n"}),
    network("network scope", "scope", scope="shop-dev\n"),
    aws("vpc id", "vpc_id", vpc_id=VPC + "\n"),
    aws("app", "app", {"app": "web\n"}),
    aws("tag value", "tags.team", {"tags": {"team": "web\n"}}),
]

STRICT_FLAGS_AND_NUMBERS = [
    k8s("replicas true", "replicas", {"replicas": True}),
    k8s("replicas false", "replicas", {"replicas": False}),
    k8s("container port true", "ports[0].container_port", {"ports[0].container_port": True}),
    k8s("service port true", "ports[0].service_port", {"ports[0].service_port": True}),
    k8s("keep previous true", "keep_previous", {"keep_previous": True}),
    k8s("run as user true", "security.run_as_user", {"security.run_as_user": True}),
    k8s("rollout timeout true", "rollout_timeout_seconds", {"rollout_timeout_seconds": True}),
    k8s("probe period true", "probes.liveness.period_seconds", {"probes.liveness.period_seconds": True}),
    k8s("egress port true", "network.egress_to[0].ports[0]",
        {"network.egress_to": [{"cidr": "10.0.0.0/8", "ports": [True]}]}),
    k8s("expose service 'false'", "expose.service", {"expose.service": "false"}),
    k8s("allow dns 'no'", "network.allow_dns", {"network.allow_dns": "no"}),
    k8s("read only 'true'", "state.volumes[0].read_only",
        {"state.volumes": [{"claim_name": "data", "mount_path": "/data", "read_only": "true"}]}),
    k8s("scrape 1", "monitoring.scrape", {"monitoring.scrape": 1}),
    k8s("ingress controller 'yes'", "network.ingress_from[0].ingress_controller",
        {"network.ingress_from": [{"ingress_controller": "yes"}]}),
    k8s("exec break glass 'false'", "exec_break_glass", exec_break_glass="false"),
    k8s("exec break glass 'no'", "exec_break_glass", exec_break_glass="no"),
    k8s("exec break glass 0", "exec_break_glass", exec_break_glass=0),
    k8s("exec break glass 1", "exec_break_glass", exec_break_glass=1),
    docker("docker exec break glass 'true'", "exec_break_glass", exec_break_glass="true"),
    docker("unfiltered egress 'no'", "allow_unfiltered_egress", allow_unfiltered_egress="no"),
    docker("unfiltered egress 1 with a cidr", ("allow_unfiltered_egress", "network.egress_to[0].cidr"),
           {"network.egress_to": [{"cidr": "10.0.0.0/8", "ports": [443]}]}, allow_unfiltered_egress=1),
    namespace("namespace break glass 'false'", "exec_break_glass", {"name": "apps"}, exec_break_glass="false"),
    aws("min size true", "scaling.min_size", {"scaling": {"min_size": True, "max_size": 4}}),
    aws("port true", "port", {"port": True}),
    aws("internal 'false'", "load_balancer.internal", {"load_balancer.internal": "false"}),
]

IMAGE_GRAMMAR = [
    k8s("non-ascii tag", "image", {"image": f"registry.example.com/acme/web:v{chr(0xE9)}@{DIGEST}"}),
    k8s("tag starting with a dot", "image", {"image": f"registry.example.com/acme/web:.v1@{DIGEST}"}),
    k8s("tag of 129 characters", "image", {"image": f"registry.example.com/acme/web:{'a' * 129}@{DIGEST}"}),
    k8s("upper-case path", "image", {"image": f"registry.example.com/Acme/web@{DIGEST}"}),
    k8s("short digest", "image", {"image": "registry.example.com/acme/web@sha256:abc"}),
    k8s("upper-case digest", "image", {"image": f"registry.example.com/acme/web@sha256:{'D' * 64}"}),
    k8s("cyrillic host", "image", {"image": f"regist{CYRILLIC_E}r.example.com/acme/web@{DIGEST}"}),
    k8s("fullwidth digit in digest", "image", {"image": f"registry.example.com/acme/web@sha256:{FULLWIDTH_1 * 64}"}),
    k8s("leading space", "image", {"image": f" registry.example.com/acme/web@{DIGEST}"}),
    k8s("a URL", "image", {"image": f"https://registry.example.com/acme/web@{DIGEST}"}),
    k8s("empty path component", "image", {"image": f"registry.example.com/acme//web@{DIGEST}"}),
    k8s("component ending in '-'", "image", {"image": f"registry.example.com/acme-/web@{DIGEST}"}),
    k8s("sha512 digest", "image", {"image": f"registry.example.com/acme/web@sha512:{'d' * 128}"}),
    k8s("tab in tag", "image", {"image": f"registry.example.com/acme/web:v1\t@{DIGEST}"}),
    k8s("kept release image", "previous[0].image", previous=[service(image="registry.example.com/acme/web:latest")]),
]

ARGS_LEVEL = [
    k8s("namespace default", "namespace", namespace="default"),
    k8s("namespace with upper case and '_'", "namespace", namespace="Apps_NS"),
    k8s("namespace of 65 characters", "namespace", namespace="a" * 65),
    k8s("namespace kube-system", "namespace", namespace="kube-system"),
    k8s("namespace look-alike", "namespace", namespace=f"apps-d{CYRILLIC_E}v"),
    docker("docker namespace default", "namespace", namespace="default"),
    network("scope with a slash", "scope", scope="shop/dev"),
    network("scope with '..'", "scope", scope="../../etc"),
    network("scope starting with '-'", "scope", scope="-shop"),
    network("scope with a space", "scope", scope="shop dev"),
    namespace("namespace name default", "name", {"name": "default"}),
    aws("short vpc id", "vpc_id", vpc_id="vpc-123"),
    aws("vpc id in upper case", "vpc_id", vpc_id="VPC-0123456789ABCDEF0"),
    aws("empty subnet list", "subnet_ids", subnet_ids=[]),
    aws("bad subnet", "subnet_ids[0]", subnet_ids=["subnet-xyz"]),
    aws("second subnet bad", "subnet_ids[1]", subnet_ids=[SUBNETS[0], "sn-1"]),
    aws("subnet beside an Output", "subnet_ids[1]", subnet_ids=lambda: [output(SUBNETS[0]), "subnet-"]),
    aws("one load balancer subnet", "load_balancer_subnet_ids", load_balancer_subnet_ids=[LB_SUBNETS[0]]),
    aws("certificate short account", "certificate_arn",
        certificate_arn="arn:aws:acm:eu-west-1:12345:certificate/01234567-89ab-cdef-0123-456789abcdef"),
    aws("certificate arabic digits", "certificate_arn", certificate_arn=CERT.replace("1", ARABIC_1)),
    aws("certificate of another service", "certificate_arn", certificate_arn=CERT.replace(":acm:", ":iam:")),
    aws("vpc Output, subnets bad", "subnet_ids[0]", vpc_id=lambda: output(VPC), subnet_ids=["bad"]),
    aws("vpc id holding a key", "vpc_id", vpc_id=AWS_KEY_ID),
]

EMBEDDED = [
    k8s("group with a quote", "security.break_glass_group", {"security.break_glass_group": "sre'||true||'"}),
    k8s("group with a double quote", "security.break_glass_group", {"security.break_glass_group": 'sre"'}),
    k8s("group with a backslash", "security.break_glass_group", {"security.break_glass_group": "sre\\"}),
    k8s("group with a space", "security.break_glass_group", {"security.break_glass_group": "sre team"}),
    k8s("group non-ascii", "security.break_glass_group", {"security.break_glass_group": f"sr{CYRILLIC_E}"}),
    namespace("resident group with a newline", "services[0].security.break_glass_group", {"name": "apps"},
              services=[with_(service(), {"security.break_glass_group": "sre\nx"})]),
    k8s("env name look-alike", f"env.LOG_L{CYRILLIC_E.upper()}VEL", {"env": {f"LOG_L{CYRILLIC_E.upper()}VEL": "x"}}),
    k8s("file name look-alike", "config_files[0].name", {"config_files[0].name": f"app.t{CYRILLIC_E}ml"}),
    k8s("hostname look-alike", "expose.ingress.hostname",
        {"expose.ingress": {**INGRESS, "hostname": f"app.{CYRILLIC_E}xample.com"}}),
    k8s("service name look-alike", "name", {"name": f"w{CYRILLIC_E}b"}),
    aws("tag with a newline key", "tags['team\\n']", {"tags": {"team\n": "web"}}),
    aws("ami fullwidth", "ami_id", {"ami_id": "ami-" + FULLWIDTH_1 * 17}),
]

PLATFORM_LIMITS = [
    docker("memory limit 5Mi", ("resources.memory_limit", "resources.memory_request"),
           {"resources.memory_limit": "5Mi", "resources.memory_request": "4Mi"}),
    docker("memory request 5Mi", "resources.memory_request", {"resources.memory_request": "5Mi"}),
    docker("memory 5Mi in bytes", ("resources.memory_limit", "resources.memory_request"),
           {"resources.memory_limit": "5242880", "resources.memory_request": "5242880"}),
]

EVERY_PROBLEM_AT_ONCE = [
    k8s("Output in env and a bad image", ("env.API_URL", "image"),
        {"env": {"API_URL": "x"}, "image": "nginx"}),
    k8s("bad active and bad kept release", ("image", "previous[0].image"), {"image": "nginx"},
        previous=[service(image="Bad Image")]),
    k8s("kept release of another service and bad replicas", ("replicas", "previous[0].name"),
        {"replicas": -1}, previous=[service(name="other", image=IMAGE_B)]),
    k8s("bad args and bad spec", ("exec_break_glass", "namespace", "image"), {"image": "nginx"},
        namespace="default", exec_break_glass="false"),
    docker("docker check and bad image", ("image", "network.allow_dns"),
           {"image": "nginx", "network.allow_dns": False}),
    docker("docker check and bad kept release", ("network.allow_dns", "previous[0].image"),
           {"network.allow_dns": False}, previous=[service(image="nginx")]),
    docker("docker limit and bad flag", ("allow_unfiltered_egress", "resources.memory_request"),
           {"resources.memory_request": "4Mi"}, allow_unfiltered_egress="yes"),
    namespace("two bad services", ("services[0].image", "services[1].name"), {"name": "apps"},
              services=[service(image="nginx"), service(name="Web")]),
    namespace("bad name and bad service", ("name", "services[0].image"), {"name": "Apps"},
              services=[service(image="nginx")]),
    namespace("service in another namespace and bad flag", ("exec_break_glass", "services[0].namespace"),
              {"name": "apps"}, services=[service(namespace="other")], exec_break_glass="no"),
    network("bad service and bad scope", ("scope", "services[0].image"), services=[service(image="nginx")],
            scope="a/b"),
    aws("bad wiring and bad spec", ("vpc_id", "scaling.min_size"), {"scaling": {"min_size": 5, "max_size": 4}},
        vpc_id="vpc-1"),
    aws("two bad tags", ("tags.a", "tags.b"), {"tags": {"a": "x\n", "b": "y\t"}}),
]

CLASSES = {
    "trailing newline": TRAILING_NEWLINE,
    "strict flags and numbers": STRICT_FLAGS_AND_NUMBERS,
    "image grammar": IMAGE_GRAMMAR,
    "args-level values": ARGS_LEVEL,
    "embedded strings and look-alikes": EMBEDDED,
    "platform limits": PLATFORM_LIMITS,
    "every problem at once": EVERY_PROBLEM_AT_ONCE,
}
CASES = [case for cases in CLASSES.values() for case in cases]


def _env_output(args: dict[str, Any]) -> dict[str, Any]:
    """The case 'Output in env' needs its Output made inside the program."""
    env = args["spec"].get("env") or {}
    if "API_URL" in env:
        args["spec"]["env"] = {**env, "API_URL": output("http://api.apps:8080")}
    return args


BUILD: dict[str, Callable[[str, dict[str, Any]], Any]] = {
    "k8s": lambda name, args: ContainerService(name, _env_output(args)),
    "docker": lambda name, args: DockerContainerService(name, args),
    "namespace": lambda name, args: ServiceNamespace(name, args),
    "network": lambda name, args: StackNetwork(name, args),  # type: ignore[arg-type]
}


def _errors(cases: list[Case], run: Callable[[Callable[[], None]], Any]) -> tuple[list[SpecError], Any]:
    errors: list[SpecError] = []

    def program() -> None:
        for i, case in enumerate(cases):
            try:
                build = BUILD.get(case.component) or (lambda name, args: ServerGroup(name, args))
                build(f"bad-{i}", case.args())
            except SpecError as error:
                errors.append(error)
            else:
                errors.append(SpecError(f"case {case.id!r} was accepted", []))

    return errors, run(program)


def test_at_least_a_hundred_new_bad_inputs_in_every_class() -> None:
    assert len(CASES) >= 100
    assert len({(c.component, c.id) for c in CASES}) == len(CASES)
    assert all(len(cases) >= 3 for cases in CLASSES.values())


@pytest.mark.parametrize("component", ["k8s", "docker", "namespace", "network"])
def test_every_bad_input_is_refused_at_its_paths_all_at_once_registering_nothing(component: str) -> None:
    cases = [c for c in CASES if c.component == component]
    errors, result = _errors(cases, run_program)
    assert result.resources == [], "a bad input registered something"
    for case, error in zip(cases, errors, strict=True):
        assert sorted(error.paths) == sorted(case.paths), (case.id, error.paths, str(error))
        assert_safe(error)


def test_every_bad_server_group_input_is_refused_at_its_paths_registering_nothing() -> None:
    cases = [c for c in CASES if c.component == "aws"]
    errors, program = _errors(cases, run_aws)
    assert program.resources == [], "a bad input registered something"
    for case, error in zip(cases, errors, strict=True):
        assert sorted(error.paths) == sorted(case.paths), (case.id, error.paths, str(error))
        assert_safe(error)
