"""Bad input, everywhere: a table of invalid specs and stack configs, every entry point.

For every case: the exact set of paths reported, all at once, as one ``SpecError``; no
resource registered (through the component, under mocks); and no secret value in ``str()``
or ``repr()`` of the error, whichever entry point was used (construction, ``model_validate``,
``model_validate_json``, ``validate_spec``, the component, the stack config loader).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from immutable_infra import ContainerServiceSpec, SpecError, validate_spec
from immutable_infra.aws import ServerGroup, ServerGroupSpec
from immutable_infra.environment import EnvironmentConfig, load_stack_config
from immutable_infra.kubernetes import ContainerService

from ..aws_mocks import AMI_A, WIRING, server_group_spec
from ..aws_mocks import run as run_aws
from ..fixtures import SECRET_VALUE, service
from ..k8s_harness import run_program

AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DB_PASSWORD = "pg-hunter2-correct-horse"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
GITHUB_TOKEN = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0" + "P9o8N7m6L5k4J3i2"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAq1u2v3w4x5y6z7\n-----END RSA PRIVATE KEY-----"
SECRETS = (SECRET_VALUE, AWS_KEY_ID, AWS_SECRET, AWS_SECRET[:25], DB_PASSWORD, JWT, GITHUB_TOKEN,
           "MIIEowIBAAKCAQEAq1u2v3w4x5y6z7")

DIGEST = "sha256:" + "d" * 64
OK_PROBES = {"liveness": {"http_get": {"path": "/healthz"}}, "readiness": {"http_get": {"path": "/ready"}}}
RES = {"cpu_request": "100m", "cpu_limit": "500m", "memory_request": "64Mi", "memory_limit": "128Mi"}
REASON = {"reason": "reviewed exception, ticket SEC-42"}


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # service | server_group | environment | ledger
    data: dict[str, Any]
    paths: tuple[str, ...]


def svc(case_id: str, paths: tuple[str, ...] | str, **overrides: Any) -> Case:
    return Case(case_id, "service", service(**overrides), (paths,) if isinstance(paths, str) else paths)


def sg(case_id: str, paths: tuple[str, ...] | str, **overrides: Any) -> Case:
    return Case(case_id, "server_group", server_group_spec(**overrides), (paths,) if isinstance(paths, str) else paths)


def env(case_id: str, paths: tuple[str, ...] | str, **fields: Any) -> Case:
    data = {"name": "dev", **fields}
    return Case(case_id, "environment", data, (paths,) if isinstance(paths, str) else paths)


def ledger(case_id: str, paths: tuple[str, ...] | str, entries: dict[str, Any], **environment: Any) -> Case:
    data = {"environment": {"name": "dev", **environment}, "ledger": entries}
    return Case(case_id, "ledger", data, (paths,) if isinstance(paths, str) else paths)


def releases(*artifacts: str, **extra: Any) -> dict[str, Any]:
    return {"releases": [{"artifact": a} for a in artifacts], **extra}


def ports(*entries: dict[str, Any]) -> list[dict[str, Any]]:
    return list(entries)


SERVICE_CASES = [
    svc("mutable tag", "image", image="registry.example.com/acme/web:latest"),
    svc("bare image name", "image", image="nginx"),
    svc("garbage image", "image", image="Not An Image!"),
    svc("short digest", "image", image="registry.example.com/web@sha256:abc"),
    svc("upper-case repository", "image", image=f"registry.example.com/Acme/Web@{DIGEST}"),
    svc("image as URL", "image", image=f"https://registry.example.com/web@{DIGEST}"),
    svc("sha512 digest", "image", image="registry.example.com/web@sha512:" + "a" * 128),
    svc("bad service name", "name", name="Web_Service"),
    svc("name too long", "name", name="w" * 64),
    svc("default namespace", "namespace", namespace="default"),
    svc("kube-system namespace", "namespace", namespace="kube-system"),
    svc("missing probes", "probes", probes=None),
    svc("missing readiness", "probes.readiness", probes={"liveness": {"http_get": {}}}),
    svc("probe with two handlers", "probes.liveness.http_get",
        probes={**OK_PROBES, "liveness": {"http_get": {}, "tcp_port": 8080}}),
    svc("probe with no handler", "probes.readiness.http_get", probes={**OK_PROBES, "readiness": {}}),
    svc("probe on undeclared named port", "probes.readiness.http_get.port",
        probes={**OK_PROBES, "readiness": {"http_get": {"port": "admin"}}}),
    svc("probe on unexposed numeric port", "probes.readiness.http_get.port",
        probes={**OK_PROBES, "readiness": {"http_get": {"port": 9999}}}),
    svc("tcp probe on unexposed port", "probes.liveness.tcp_port", probes={**OK_PROBES, "liveness": {"tcp_port": 22}}),
    svc("probe path without slash", "probes.liveness.http_get.path",
        probes={**OK_PROBES, "liveness": {"http_get": {"path": "healthz"}}}),
    svc("empty exec probe", "probes.liveness.exec_command", probes={**OK_PROBES, "liveness": {"exec_command": []}}),
    svc("root user", "security.run_as_user", security={"run_as_user": 0}),
    svc("low gid", "security.run_as_group", security={"run_as_group": 1000}),
    svc("root user and group", ("security.run_as_user", "security.run_as_group"),
        security={"run_as_user": 0, "run_as_group": 0}),
    svc("secret in plain env", "env.DB_PASSWORD", env={"DB_PASSWORD": DB_PASSWORD}),
    svc("token in plain env", "env.GITHUB_TOKEN", env={"GITHUB_TOKEN": SECRET_VALUE}),
    svc("access key id under an innocent name", "env.CONFIG_BLOB", env={"CONFIG_BLOB": f"id={AWS_KEY_ID}"}),
    svc("JWT under an innocent name", "env.SESSION_SEED", env={"SESSION_SEED": JWT}),
    svc("GitHub token under an innocent name", "env.GH", env={"GH": GITHUB_TOKEN}),
    svc("password in an env URL", "env.DATABASE_URL", env={"DATABASE_URL": f"postgres://app:{DB_PASSWORD}@db:5432/app"}),
    svc("NUL in env value", "env.GREETING", env={"GREETING": "hello\x00world"}),
    svc("escape sequence in env value", "env.COLOR", env={"COLOR": "\x1b[31m"}),
    svc("bad env name", "env.1BAD", env={"1BAD": "x"}),
    svc("env name with dash", "env.LOG-LEVEL", env={"LOG-LEVEL": "x"}),
    svc("reserved env prefix", "env.KUBERNETES_SERVICE_HOST", env={"KUBERNETES_SERVICE_HOST": "x"}),
    svc("several env problems at once", ("env.1BAD", "env.DB_PASSWORD", "env.NUL"),
        env={"1BAD": "x", "DB_PASSWORD": DB_PASSWORD, "NUL": "\x00"}),
    svc("env opt-out with a short reason", "security.opt_outs.env_not_secret.names.PASSWORD_POLICY_URL",
        env={"PASSWORD_POLICY_URL": "https://example.com/policy"},
        security={"opt_outs": {"env_not_secret": {"PASSWORD_POLICY_URL": "public"}}}),
    svc("env opt-out for a variable that is not set", "security.opt_outs.env_not_secret.API_TOKEN_DOCS",
        security={"opt_outs": {"env_not_secret": {"API_TOKEN_DOCS": "a public page about our API tokens"}}}),
    svc("env opt-out does not let a credential through", "env.PASSWORD_POLICY_URL",
        env={"PASSWORD_POLICY_URL": AWS_KEY_ID},
        security={"opt_outs": {"env_not_secret": {"PASSWORD_POLICY_URL": "the public password policy page"}}}),
    svc("bad cpu quantity", "resources.cpu_limit", resources={**RES, "cpu_limit": "lots"}),
    svc("cpu with a space", "resources.cpu_limit", resources={**RES, "cpu_limit": "1 m"}),
    svc("zero cpu", "resources.cpu_request", resources={**RES, "cpu_request": "0"}),
    svc("negative cpu", "resources.cpu_request", resources={**RES, "cpu_request": "-1"}),
    svc("memory in MB", "resources.memory_limit", resources={**RES, "memory_limit": "128MB"}),
    svc("memory lower-case gi", "resources.memory_limit", resources={**RES, "memory_limit": "1gi"}),
    svc("memory with exponent and unit", "resources.memory_limit", resources={**RES, "memory_limit": "1e3Mi"}),
    svc("memory beyond int64", "resources.memory_limit", resources={**RES, "memory_limit": "9Ei"}),
    svc("tiny memory", "resources.memory_request", resources={**RES, "memory_request": "1Ki"}),
    svc("cpu request above limit", "resources.cpu_request", resources={**RES, "cpu_request": "2"}),
    svc("memory request above limit", "resources.memory_request", resources={**RES, "memory_request": "1Gi"}),
    svc("both requests above limits", ("resources.cpu_request", "resources.memory_request"),
        resources={**RES, "cpu_request": "1.5", "memory_request": "1.5Gi"}),
    svc("missing resources", "resources", resources=None),
    svc("missing memory limit", "resources.memory_limit",
        resources={k: v for k, v in RES.items() if k != "memory_limit"}),
    svc("port name clash", "ports[1].name",
        ports=ports({"name": "http", "container_port": 8080}, {"name": "http", "container_port": 9090})),
    svc("same container port", "ports[1].container_port",
        ports=ports({"name": "http", "container_port": 8080}, {"name": "metrics", "container_port": 8080})),
    svc("same service port", "ports[1].service_port",
        ports=ports({"name": "http", "container_port": 8080, "service_port": 80},
                    {"name": "admin", "container_port": 9090, "service_port": 80})),
    svc("port out of range", "ports[0].container_port", ports=ports({"name": "http", "container_port": 70000})),
    svc("port name too long", "ports[0].name", ports=ports({"name": "http-port-longer", "container_port": 8080})),
    svc("port name without a letter", "ports[0].name", ports=ports({"name": "8080", "container_port": 8080})),
    svc("unknown opt-out", "security.opt_outs.root_please",
        security={"opt_outs": {"root_please": {"reason": "because we really need it"}}}),
    svc("opt-out without reason", "security.opt_outs.run_as_root.reason",
        security={"opt_outs": {"run_as_root": {"reason": "x"}}}),
    svc("opt-out with a placeholder reason", "security.opt_outs.exec_lock.reason",
        security={"opt_outs": {"exec_lock": {"reason": "todo todo todo todo todo"}}}),
    svc("opt-out with one word", "security.opt_outs.exec_lock.reason",
        security={"opt_outs": {"exec_lock": {"reason": "debuggingdebuggingdebugging"}}}),
    svc("unknown field", "replcas", replcas=3),
    svc("negative replicas", "replicas", replicas=-1),
    svc("replicas as text", "replicas", replicas="two"),
    svc("bad strategy", "strategy", strategy="canary"),
    svc("bad keep mode", "keep_mode", keep_mode="frozen"),
    svc("too many kept", "keep_previous", keep_previous=50),
    svc("rollout timeout too short", "rollout_timeout_seconds", rollout_timeout_seconds=10),
    svc("ingress without tls", "expose.ingress.tls_secret", expose={"ingress": {"hostname": "web.example.com"}}),
    svc("bad hostname", "expose.ingress.hostname", expose={"ingress": {"hostname": "not a host", "tls_secret": "tls"}}),
    svc("ingress path without slash", "expose.ingress.path",
        expose={"ingress": {"hostname": "web.example.com", "tls_secret": "tls", "path": "app"}}),
    svc("ingress without ports", "ports", ports=[], probes={"liveness": {"exec_command": ["true"]},
                                                            "readiness": {"exec_command": ["true"]}},
        expose={"ingress": {"hostname": "web.example.com", "tls_secret": "tls"}}),
    svc("egress everywhere", "network.egress_to[0].ports", network={"egress_to": [{"cidr": "0.0.0.0/0"}]}),
    svc("bad cidr", "network.egress_to[0].cidr", network={"egress_to": [{"cidr": "10.0.0.1/8", "ports": [443]}]}),
    svc("egress with no destination", "network.egress_to[0].service", network={"egress_to": [{"ports": [443]}]}),
    svc("peer with two kinds", "network.ingress_from[0].service",
        network={"ingress_from": [{"service": "api", "namespace": "x"}]}),
    svc("relative config dir", "config_dir", config_dir="etc/app"),
    svc("config dir with ..", "config_dir", config_dir="/etc/../root"),
    svc("duplicate config file", "config_files[1].name",
        config_files=[{"name": "a", "content": "1"}, {"name": "a", "content": "2"}]),
    svc("config file with slash", "config_files[0].name", config_files=[{"name": "../etc/passwd", "content": "x"}]),
    svc("private key in a config file", "config_files[0].content", config_files=[{"name": "tls.key", "content": PEM}]),
    svc("NUL in a config file", "config_files[0].content", config_files=[{"name": "a.bin", "content": "a\x00b"}]),
    svc("config files over 1 MiB", "config_files", config_files=[{"name": "big.txt", "content": "x" * (1024 * 1024)}]),
    svc("duplicate secret", "secrets[1].name",
        secrets=[{"name": "s", "value": SECRET_VALUE}, {"name": "s", "value": SECRET_VALUE + "2"}]),
    svc("secret with an unknown key", "secrets[0].bogus",
        secrets=[{"name": "db-password", "value": SECRET_VALUE, "bogus": SECRET_VALUE}]),
    svc("secret with a bad name", "secrets[0].name", secrets=[{"name": "db/password", "value": SECRET_VALUE}]),
    svc("secret value not text", "secrets[0].value", secrets=[{"name": "db-password", "value": {"v": SECRET_VALUE}}]),
    svc("mounts overlap", "secrets_dir", secrets_dir="/etc/app"),
    svc("scratch dir over config dir", "security.scratch_dirs[1]", security={"scratch_dirs": ["/tmp", "/etc/app"]}),
    svc("credentials in endpoint url", "state.endpoints[0].url",
        state={"endpoints": [{"name": "DB", "url": f"postgres://app:{DB_PASSWORD}@db/x"}]}),
    svc("endpoint name lower-case", "state.endpoints[0].name",
        state={"endpoints": [{"name": "database_url", "url": "postgres://db/x"}]}),
    svc("endpoint also in env", "state.endpoints[0].name", env={"DATABASE_URL": "postgres://db/x"},
        state={"endpoints": [{"name": "DATABASE_URL", "url": "postgres://db/x"}]}),
    svc("endpoint not a URL", "state.endpoints[0].url", state={"endpoints": [{"name": "DB", "url": "db:5432"}]}),
    svc("blue-green with no replicas", "replicas", strategy="blue-green", replicas=0),
    svc("reserved label", "labels.immutable.dev/release", labels={"immutable.dev/release": "x"}),
    svc("label value with a space", "labels.team", labels={"team": "web team"}),
    svc("label value too long", "labels.team", labels={"team": "t" * 64}),
    svc("label key with a space", "labels.Bad Key", labels={"Bad Key": "x"}),
    svc("monitoring port undeclared", "monitoring.port", monitoring={"port": "metrics"}),
    svc("NUL in command", "command[0]", command=["/bin/app\x00"]),
    svc("token in args", "args[1]", args=["--token", GITHUB_TOKEN]),
    svc("README sample: image pin and secret in env", ("image", "env.DB_PASSWORD"),
        image="registry.example.com/acme/web:1.2", env={"DB_PASSWORD": DB_PASSWORD}),
    svc("field errors with cross-field errors", ("image", "resources.cpu_limit", "security.run_as_user"),
        image="nginx:1.25", resources={**RES, "cpu_limit": "lots"}, security={"run_as_user": 0}),
    svc("four fields at once", ("name", "namespace", "replicas", "strategy"),
        name="Bad_Name", namespace="default", replicas=-2, strategy="x"),
]

SG_CASES = [
    sg("AMI name instead of id", "ami_id", ami_id="ubuntu-22.04"),
    sg("AMI id upper-case", "ami_id", ami_id="ami-0123456789ABCDEF0"),
    sg("misspelled instance type", "instance_types[0]", instance_types=["t3.mircro"]),
    sg("no instance type", "instance_types", instance_types=[]),
    sg("instance type twice", "instance_types", instance_types=["t3.micro", "t3.micro"]),
    sg("access key id in user data", "user_data", user_data=f"#!/bin/bash\nexport AWS_ACCESS_KEY_ID={AWS_KEY_ID}\n"),
    sg("secret key in user data", "user_data", user_data=f"#!/bin/bash\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n"),
    sg("password in user data", "user_data", user_data=f"#!/bin/bash\nDB_PASSWORD={DB_PASSWORD}\n"),
    sg("private key in user data", "user_data", user_data=f"#cloud-config\nwrite_files:\n- content: |\n{PEM}\n"),
    sg("JWT in user data", "user_data", user_data=f"#!/bin/bash\ncurl -H 'Authorization: Bearer {JWT}' x\n"),
    sg("NUL in user data", "user_data", user_data="#!/bin/bash\necho a\x00b\n"),
    sg("user data too large", "user_data", user_data="#!/bin/bash\n" + "#" * 17000),
    sg("port 0", "port", port=0),
    sg("unencrypted volume", "volumes[0].encrypted", volumes=[{"encrypted": False}]),
    sg("io1 without iops", "volumes[0].iops", volumes=[{"volume_type": "io1"}]),
    sg("two volumes on one device", "volumes[1].device_name",
        volumes=[{"device_name": "/dev/xvda"}, {"device_name": "/dev/xvda"}]),
    sg("IMDSv1", "security.imdsv2_required", security={"imdsv2_required": False}),
    sg("hop limit 2", "security.metadata_hop_limit", security={"metadata_hop_limit": 2}),
    sg("public ip", "security.associate_public_ip", security={"associate_public_ip": True}),
    sg("ssh key", "security.key_name", security={"key_name": "ops"}),
    sg("ssh ingress", "security.extra_ingress[0].port", security={"extra_ingress": [{"cidr": "10.0.0.0/8", "port": 22}]}),
    sg("ingress range reversed", "security.extra_ingress[0].to_port",
        security={"extra_ingress": [{"cidr": "10.0.0.0/8", "port": 9000, "to_port": 8000}]}),
    sg("bad rule description", "security.extra_ingress[0].description",
        security={"extra_ingress": [{"cidr": "10.0.0.0/8", "port": 8443, "description": "café \"quoted\""}]}),
    sg("min above max", "scaling.min_size", scaling={"min_size": 5, "max_size": 2}),
    sg("desired out of bounds", "scaling.desired_capacity", scaling={"min_size": 1, "max_size": 2, "desired_capacity": 5}),
    sg("no load balancing", "load_balancer", load_balancer=None),
    sg("plain http listener", "load_balancer.https", load_balancer={"allowed_cidrs": ["10.0.0.0/8"], "https": False}),
    sg("load balancer without allowed cidrs", "load_balancer.allowed_cidrs", load_balancer={}),
    sg("health check timeout above interval", "health_check.timeout_seconds",
        health_check={"timeout_seconds": 20, "interval_seconds": 15}),
    sg("health check matcher", "health_check.matcher", health_check={"matcher": "ok"}),
    sg("health check zero timeout", "health_check.capacity_timeout", health_check={"capacity_timeout": "0"}),
    sg("health check path without slash", "health_check.path", health_check={"path": "health"}),
    sg("app and env too long", "env", app="a" * 12, env="e" * 12),
    sg("app internal", "app", app="internal"),
    sg("reserved tag", "tags.Name", tags={"Name": "web"}),
    sg("opt-out with a short reason", "security.opt_outs.public_ip.reason",
       security={"opt_outs": {"public_ip": {"reason": "because"}}}),
    sg("unknown field", "amiid", amiid=AMI_A),
    sg("field and cross-field problems at once", ("ami_id", "security.imdsv2_required", "scaling.min_size"),
       ami_id="ubuntu", security={"imdsv2_required": False}, scaling={"min_size": 5, "max_size": 2}),
]

ENV_CASES = [
    env("bad environment name", "name", name="Dev_1"),
    env("bad target", "target", target="mars"),
    env("unknown key", "replicas", replicas=3),
    env("empty kubeconfig", "kubeconfig", kubeconfig=""),
    env("negative replicas", "services.web.replicas", services={"web": {"replicas": -1}}),
    env("bad hostname", "services.web.hostname", services={"web": {"hostname": "web_dev"}}),
    env("service name not a DNS label", "services.Web", services={"Web": {"replicas": 1}}),
    env("unknown service knob", "services.web.image", services={"web": {"image": "nginx"}}),
    env("group min above max", "server_groups.api.min_size", server_groups={"api": {"min_size": 5, "max_size": 2}}),
    env("bad region", "aws.region", aws={"region": "Europe", "vpc_id": "vpc-0123456789abcdef0",
                                         "subnet_ids": ["subnet-0123456789abcdef0"]}),
    env("bad vpc", "aws.vpc_id", aws={"region": "eu-west-1", "vpc_id": "vpc-XYZ",
                                      "subnet_ids": ["subnet-0123456789abcdef0"]}),
    env("no subnets", "aws.subnet_ids", aws={"region": "eu-west-1", "vpc_id": "vpc-0123456789abcdef0",
                                             "subnet_ids": []}),
    env("bad subnet", "aws.subnet_ids[0]", aws={"region": "eu-west-1", "vpc_id": "vpc-0123456789abcdef0",
                                                "subnet_ids": ["subnet-nope"]}),
    env("prod with mutable tags", "allow_mutable_image_tags", name="prod", target="kubernetes",
        allow_mutable_image_tags=True),
    env("prod with break glass", "exec_break_glass", name="prod", target="kubernetes", exec_break_glass=True),
    env("prod on a local target", "target", name="prod", target="local-cluster"),
    env("prod: everything at once", ("allow_mutable_image_tags", "exec_break_glass", "target"), name="prod",
        target="render", allow_mutable_image_tags=True, exec_break_glass=True),
    env("field and cross-field problems at once", ("services.web.replicas", "target"), name="prod", target="render",
        services={"web": {"replicas": -1}}),
]

WEB = f"registry.example.com/acme/web@{DIGEST}"
LEDGER_CASES = [
    ledger("artifact by tag", "ledger.web.releases[0].artifact", {"web": releases("registry.example.com/acme/web:1.0")}),
    ledger("artifact not an artifact", "ledger.web.releases[0].artifact", {"web": releases("x")}),
    ledger("artifact with credentials", "ledger.web.releases[0].artifact",
           {"web": releases(f"https://app:{DB_PASSWORD}@registry.example.com/acme/web")}),
    ledger("AMI for a service", "ledger.web.releases[0].artifact", {"web": releases("ami-0123456789abcdef0")}),
    ledger("image for a server group", "ledger.api.releases[0].artifact", {"api": releases(WEB)}),
    ledger("no releases", "ledger.web.releases", {"web": {"releases": []}}),
    ledger("active not listed", "ledger.web.active", {"web": releases(WEB, active=f"registry.example.com/o@{DIGEST}")}),
    ledger("artifact twice", "ledger.web.releases", {"web": releases(WEB, WEB)}),
    ledger("unknown workload", "ledger.db", {"db": releases(WEB)}),
    ledger("note too long", "ledger.web.releases[0].note", {"web": {"releases": [{"artifact": WEB, "note": "n" * 201}]}}),
    ledger("unknown entry key", "ledger.web.releases[0].digest",
           {"web": {"releases": [{"artifact": WEB, "digest": DIGEST}]}}),
    ledger("second artifact bad", "ledger.web.releases[1].artifact", {"web": releases(WEB, "web:latest")}),
    ledger("ledger and environment at once", ("ledger.web.releases[0].artifact", "environment.target"),
           {"web": releases("Not An Artifact!")}, target="mars"),
]

CASES = SERVICE_CASES + SG_CASES + ENV_CASES + LEDGER_CASES
WORKLOADS = {"web": "service", "api": "server_group"}


def _caught(fn: Callable[[], Any]) -> SpecError:
    with pytest.raises(SpecError) as caught:
        fn()
    return caught.value


def _yaml(stack: str, path: str) -> str:
    return f"Pulumi.{stack}.yaml: immutable:{path}"


def entry_points(case: Case) -> dict[str, Callable[[], Any]]:
    """Every way a user can hand this input to the library (components are run separately, under mocks)."""
    data = copy.deepcopy(case.data)
    if case.kind == "ledger":
        return {"load_stack_config": lambda: load_stack_config("dev", data, workloads=WORKLOADS)}
    model: Any = {"service": ContainerServiceSpec, "server_group": ServerGroupSpec,
                  "environment": EnvironmentConfig}[case.kind]
    points: dict[str, Callable[[], Any]] = {
        "construction": lambda: model(**data),
        "model_validate": lambda: model.model_validate(data),
        "model_validate_json": lambda: model.model_validate_json(json.dumps(data)),
        "validate_spec": lambda: validate_spec(model, data),
    }
    if case.kind == "environment":
        stack = data["name"] if isinstance(data.get("name"), str) else "dev"
        points["load_stack_config"] = lambda: load_stack_config(stack, {"environment": data})
    return points


def expected_paths(case: Case, point: str) -> list[str]:
    if case.kind == "ledger":
        return sorted(_yaml("dev", p) for p in case.paths)
    if point == "load_stack_config":
        stack = case.data["name"] if isinstance(case.data.get("name"), str) else "dev"
        return sorted(_yaml(stack, f"environment.{p}") for p in case.paths)
    return sorted(case.paths)


def assert_safe(error: SpecError) -> None:
    for text in (str(error), repr(error), *(repr(p) for p in error.problems)):
        for secret in SECRETS:
            assert secret not in text, f"a secret is echoed: {text}"
    for problem in error.problems:
        assert problem.fix and problem.message, problem
        assert "match the documented format" not in problem.fix and "pattern" not in problem.message, problem


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 120
    assert len({(c.kind, c.id) for c in CASES}) == len(CASES)
    assert {c.kind for c in CASES} == {"service", "server_group", "environment", "ledger"}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}: {c.id}" for c in CASES])
def test_every_entry_point_reports_exactly_these_paths_masked(case: Case) -> None:
    for point, call in entry_points(case).items():
        error = _caught(call)
        assert sorted(error.paths) == expected_paths(case, point), (point, error.paths)
        assert_safe(error)


def test_service_components_register_nothing_and_mask_everything() -> None:
    errors: list[SpecError] = []

    def program() -> None:
        for i, case in enumerate(SERVICE_CASES):
            errors.append(_caught(lambda case=case, i=i: ContainerService(f"bad-{i}", {"spec": copy.deepcopy(case.data)})))

    assert run_program(program).resources == []
    assert len(errors) == len(SERVICE_CASES)
    for case, error in zip(SERVICE_CASES, errors, strict=True):
        assert sorted(error.paths) == sorted(case.paths), (case.id, error.paths)
        assert_safe(error)


def test_server_group_components_register_nothing_and_mask_everything() -> None:
    errors: list[SpecError] = []

    def program() -> None:
        for i, case in enumerate(SG_CASES):
            errors.append(_caught(lambda case=case, i=i: ServerGroup(f"bad-{i}", {"spec": copy.deepcopy(case.data), **WIRING})))

    assert run_aws(program).resources == []
    for case, error in zip(SG_CASES, errors, strict=True):
        assert sorted(error.paths) == sorted(case.paths), (case.id, error.paths)
        assert_safe(error)


# --- valid inputs ------------------------------------------------------------------------------------

def _res(cpu_request: str, cpu_limit: str, memory_request: str, memory_limit: str) -> dict[str, str]:
    return {"cpu_request": cpu_request, "cpu_limit": cpu_limit, "memory_request": memory_request,
            "memory_limit": memory_limit}


VALID_SERVICES: list[tuple[str, dict[str, Any]]] = [
    ("fixture as is", {}),
    ("fractional memory 1.5Gi", {"resources": _res("100m", "1", "1Gi", "1.5Gi")}),
    ("fractional cpu 0.1", {"resources": _res("0.1", "0.5", "64Mi", "128Mi")}),
    ("cpu .5 and 1.", {"resources": _res(".5", "1.", "64Mi", "128Mi")}),
    ("signed +1", {"resources": _res("+1", "+2", "64Mi", "128Mi")}),
    ("cpu exponent 1e-1", {"resources": _res("1e-1", "2E0", "64Mi", "128Mi")}),
    ("memory exponent 1e9", {"resources": _res("100m", "1", "129e6", "1e9")}),
    ("memory plain bytes", {"resources": _res("100m", "1", "67108864", "134217728")}),
    ("memory decimal SI", {"resources": _res("100m", "1", "64M", "1G")}),
    ("memory Ti", {"resources": _res("100m", "1", "1Gi", "1Ti")}),
    ("memory Pi", {"resources": _res("100m", "1", "1Gi", "1Pi")}),
    ("memory Ei", {"resources": _res("100m", "1", "1Gi", "1Ei")}),
    ("memory E (decimal exa)", {"resources": _res("100m", "1", "1Gi", "1E")}),
    ("memory P (decimal peta)", {"resources": _res("100m", "1", "1Gi", "2P")}),
    ("cpu k and micro", {"resources": _res("500000u", "1k", "64Mi", "128Mi")}),
    ("cpu as a YAML number", {"resources": {**RES, "cpu_request": 0.25, "cpu_limit": 1}}),
    ("registry with port", {"image": f"registry.example.com:8443/acme/web@{DIGEST}"}),
    ("localhost registry with port", {"image": f"localhost:5000/web@{DIGEST}"}),
    ("IPv6 registry", {"image": f"[::1]:5000/team/web@{DIGEST}"}),
    ("tag and digest", {"image": f"registry.example.com/acme/web:1.2.3-rc.1@{DIGEST}"}),
    ("upper-case registry host", {"image": f"Registry.Example.com/acme/web@{DIGEST}"}),
    ("repository with __ and --", {"image": f"registry.example.com/a__b/c--d/web@{DIGEST}"}),
    ("name at 63 characters", {"name": "w" * 63}),
    ("namespace at 63 characters", {"namespace": "n" * 63}),
    ("label key and value at maximum", {"labels": {"k" * 63: "v" * 63, f"{'p' * 200}.io/team": ""}}),
    ("port name at 15 characters", {"ports": [{"name": "h" * 15, "container_port": 8080}],
                                    "probes": {"liveness": {"tcp_port": 8080}, "readiness": {"tcp_port": 8080}},
                                    "monitoring": {"port": "h" * 15}}),
    ("numeric probe port that is declared", {"probes": {**OK_PROBES, "readiness": {"http_get": {"port": 8080}}}}),
    ("env var that only looks secret, opted out", {
        "env": {"PASSWORD_POLICY_URL": "https://example.com/password-policy"},
        "security": {"opt_outs": {"env_not_secret": {
            "PASSWORD_POLICY_URL": "a public page about the password policy"}}}}),
    ("multi-line env value", {"env": {"BANNER": "line one\nline two\ttabbed"}}),
    ("unicode env value", {"env": {"GREETING": "grüß dich, 你好"}}),
    ("endpoint URL without credentials", {"state": {"endpoints": [{"name": "DATABASE_URL",
                                                                   "url": "postgres://db.internal:5432/app?sslmode=require"}]}}),
    ("run as root with a real reason", {"security": {"run_as_user": 0, "opt_outs": {"run_as_root": REASON}}}),
    ("mutable tag with a real reason", {"image": "nginx:1.25",
                                        "security": {"opt_outs": {"mutable_image_tag": REASON}}}),
    ("ingress with TLS", {"expose": {"ingress": {"hostname": "web.example.com", "tls_secret": "web-tls"}}}),
]


@pytest.mark.parametrize(("overrides"), [o for _, o in VALID_SERVICES], ids=[i for i, _ in VALID_SERVICES])
def test_valid_services_are_accepted_everywhere(overrides: dict[str, Any]) -> None:
    data = service(**overrides)
    spec = ContainerServiceSpec(**copy.deepcopy(data))
    assert ContainerServiceSpec.model_validate(copy.deepcopy(data)) == spec
    assert validate_spec(ContainerServiceSpec, copy.deepcopy(data)).release == spec.release


VALID_GROUPS: list[tuple[str, dict[str, Any]]] = [
    ("fixture as is", {}),
    ("app-env at 24 characters", {"app": "a" * 12, "env": "e" * 11}),
    ("user data with variables, not secrets", {"user_data": "#!/bin/bash\nDB_PASSWORD=$(aws ssm get-parameter x)\n"}),
    ("cloud-config", {"user_data": "#cloud-config\npackages: [nginx]\n"}),
    ("public ip with a reason", {"security": {"associate_public_ip": True, "opt_outs": {"public_ip": REASON}}}),
]


@pytest.mark.parametrize(("overrides"), [o for _, o in VALID_GROUPS], ids=[i for i, _ in VALID_GROUPS])
def test_valid_server_groups_are_accepted(overrides: dict[str, Any]) -> None:
    data = server_group_spec(**overrides)
    assert ServerGroupSpec(**copy.deepcopy(data)) == ServerGroupSpec.model_validate(copy.deepcopy(data))


VALID_STACKS: list[tuple[str, dict[str, Any]]] = [
    ("bare", {}),
    ("prod on kubernetes", {"environment": {"name": "prod", "target": "kubernetes"}}),
    ("ledger by digest and AMI", {"ledger": {"web": releases(WEB), "api": releases("ami-0123456789abcdef0")}}),
    ("dev allows tags in the ledger", {"environment": {"name": "dev", "allow_mutable_image_tags": True},
                                       "ledger": {"web": releases("registry.example.com/acme/web:1.0")}}),
    ("knobs", {"environment": {"name": "dev", "services": {"web": {"replicas": 0, "hostname": "web.dev.example.com"}},
                               "server_groups": {"api": {"min_size": 0, "max_size": 0}}}}),
]


@pytest.mark.parametrize(("raw"), [r for _, r in VALID_STACKS], ids=[i for i, _ in VALID_STACKS])
def test_valid_stack_configs_are_accepted(raw: dict[str, Any]) -> None:
    stack = raw.get("environment", {}).get("name", "dev")
    config = load_stack_config(stack, copy.deepcopy(raw), workloads=WORKLOADS)
    assert config.environment.name == stack


def test_at_least_thirty_valid_inputs() -> None:
    assert len(VALID_SERVICES) + len(VALID_GROUPS) + len(VALID_STACKS) >= 30


def test_an_env_opt_out_is_recorded_like_every_opt_out() -> None:
    spec = ContainerServiceSpec(**service(**dict(VALID_SERVICES)["env var that only looks secret, opted out"]))
    assert spec.security.opt_outs.names() == ["env_not_secret"]
    assert spec.security.opt_outs.env_not_secret is not None
    assert spec.security.opt_outs.env_not_secret.reason.startswith("PASSWORD_POLICY_URL: a public page")


def test_masked_values_keep_what_helps() -> None:
    error = _caught(lambda: ContainerServiceSpec(**service(
        state={"endpoints": [{"name": "DB", "url": f"postgres://app:{DB_PASSWORD}@db/x"}]})))
    problem = error.problem_at("state.endpoints[0].url")
    assert problem.value == "'postgres://app:***@db/x'"
    assert "secrets" in problem.fix and "format" not in problem.fix
    dup = _caught(lambda: ContainerServiceSpec(**service(ports=ports(
        {"name": "http", "container_port": 8080}, {"name": "metrics", "container_port": 8080}))))
    clash = dup.problem_at("ports[1].container_port")
    assert "8080/TCP" in clash.message and "ports[0] (http)" in clash.message and clash.value == "8080"
