"""The pure Docker builders: probes as health checks, quantities as Docker limits, names
by content hash, and the rules of what Docker can honour. No Pulumi here."""

from __future__ import annotations

from typing import Any

import pytest
from immutable_infra import ContainerServiceSpec
from immutable_infra.docker import run_options as ro
from immutable_infra.kubernetes import manifests as m

from ..fixtures import service


def spec(**overrides: Any) -> ContainerServiceSpec:
    return ContainerServiceSpec.model_validate(service(**overrides))


# --- health check ------------------------------------------------------------------------


def test_readiness_http_probe_becomes_the_health_check() -> None:
    s = spec(probes={"liveness": {"http_get": {"path": "/healthz"}},
                     "readiness": {"http_get": {"path": "/ready", "port": "http"}, "period_seconds": 5,
                                   "timeout_seconds": 2, "failure_threshold": 4, "initial_delay_seconds": 3}})
    check = ro.healthcheck(s)
    # Exec form, our probe binary: no shell, no curl in the image.
    assert check == {
        "tests": ["CMD", ro.PROBE_PATH, "http", "8080", "/ready", "2"],
        "interval": "5s", "timeout": "2s", "retries": 4, "start_period": "3s",
    }


def test_tcp_and_exec_probes() -> None:
    tcp = spec(probes={"liveness": {"tcp_port": 8080}, "readiness": {"tcp_port": 8080, "timeout_seconds": 3}})
    assert ro.healthcheck(tcp)["tests"] == ["CMD", ro.PROBE_PATH, "tcp", "8080", "3"]
    exe = spec(probes={"liveness": {"exec_command": ["/bin/app", "live"]},
                       "readiness": {"exec_command": ["/bin/app", "ready"]}})
    assert ro.healthcheck(exe)["tests"] == ["CMD", "/bin/app", "ready"]  # no shell
    assert ro.needs_probe_binary(tcp) and not ro.needs_probe_binary(exe)


def test_a_probe_path_is_data_never_shell_syntax() -> None:
    s = spec(probes={"liveness": {"http_get": {"path": "/x"}},
                     "readiness": {"http_get": {"path": "/ready;touch${IFS}/tmp/pwned"}}})
    tests = ro.healthcheck(s)["tests"]
    # One argument of an exec-form command: no shell ever reads it.
    assert tests[0] == "CMD" and tests[4] == "/ready;touch${IFS}/tmp/pwned" and len(tests) == 6


def test_the_probe_binary_is_mounted_read_only_only_when_a_probe_needs_it() -> None:
    http = spec()
    assert ro.needs_probe_binary(http)
    args = ro.container_args(http, "r1", name="n", image="i", probe_binary="/opt/probe")
    assert {"type": "bind", "source": "/opt/probe", "target": ro.PROBE_PATH, "read_only": True} in args["mounts"]
    exe = spec(probes={"liveness": {"exec_command": ["/bin/app", "live"]},
                       "readiness": {"exec_command": ["/bin/app", "ready"]}})
    assert not any(m["target"] == ro.PROBE_PATH
                   for m in ro.container_args(exe, "r1", name="n", image="i", probe_binary="/opt/probe")["mounts"])


def test_startup_probe_widens_the_start_period_and_the_wait() -> None:
    s = spec(probes={"liveness": {"http_get": {"path": "/x"}}, "readiness": {"http_get": {"path": "/ready"}},
                     "startup": {"http_get": {"path": "/x"}, "period_seconds": 10, "failure_threshold": 30}})
    assert ro.start_period_seconds(s) == 300 and ro.healthcheck(s)["start_period"] == "300s"
    assert ro.wait_timeout(s) > 300
    assert ro.wait_timeout(spec()) == ro.MIN_WAIT_SECONDS


# --- resources ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("quantity", "mib"), [("128Mi", 128), ("1Gi", 1024), ("100M", 96), ("4Mi", 4)])
def test_memory_in_whole_mebibytes_never_tighter(quantity: str, mib: int) -> None:
    assert ro.mebibytes(quantity) == mib


@pytest.mark.parametrize(("quantity", "cpus", "shares"),
                         [("500m", "0.5", 512), ("1", "1", 1024), ("0.25", "0.25", 256), ("1500m", "1.5", 1536),
                          ("1m", "0.001", 2)])
def test_cpu_limit_and_request(quantity: str, cpus: str, shares: int) -> None:
    assert ro.cpus(quantity) == cpus and ro.cpu_shares(quantity) == shares


def test_resources_mean_no_swap_and_a_reservation() -> None:
    assert ro.resources(spec()) == {"memory": 128, "memory_swap": 128, "memory_reservation": 64, "cpus": "0.5",
                                    "cpu_shares": 102}


# --- env, command, mounts -----------------------------------------------------------------------


@pytest.mark.parametrize("release_env", [False, True])
def test_env_order_matches_kubernetes_and_has_no_secret(release_env: bool) -> None:
    s = spec(env={"B": "2", "A": "1"}, state={"endpoints": [{"name": "DATABASE_URL", "url": "postgres://db:5432/x"}]},
             release_env=release_env)
    told = [f"IMMUTABLE_RELEASE={s.release}"] if release_env else []
    assert ro.env(s, s.release) == ["A=1", "B=2", "DATABASE_URL=postgres://db:5432/x", *told]
    k8s_env = m.pod_template(s, s.release)["spec"]["containers"][0]["env"]
    assert ro.env(s, s.release) == [f"{e['name']}={e['value']}" for e in k8s_env]


def test_command_is_the_entrypoint_and_args_the_command_as_on_kubernetes() -> None:
    args = ro.container_args(spec(command=["/bin/app"], args=["--port", "8080"]), "r", name="n", image="i")
    assert args["entrypoints"] == ["/bin/app"] and args["command"] == ["--port", "8080"]
    plain = ro.container_args(spec(), "r", name="n", image="i")
    assert "entrypoints" not in plain and "command" not in plain


def test_scratch_dirs_are_tmpfs_and_the_only_writable_paths() -> None:
    s = spec(security={"scratch_dirs": ["/tmp", "/var/cache/app"]})
    args = ro.container_args(s, "r", name="n", image="i")
    assert args["tmpfs"] == {"/tmp": ro.SCRATCH_TMPFS_OPTIONS, "/var/cache/app": ro.SCRATCH_TMPFS_OPTIONS}
    assert args["read_only"] is True and args["network_mode"] == "none"


# --- names and labels ------------------------------------------------------------------------------


def test_content_hashes_are_the_kubernetes_ones() -> None:
    s = spec()
    assert m.config_map_name(s) == f"web-config-{ro.config_key(s)}"
    assert m.secret_name(s) == f"web-secret-{ro.secret_key(s)}"
    assert ro.config_key(spec(config_files=[])) is None and ro.secret_key(spec(secrets=[])) is None


def test_secret_key_follows_the_version_label_not_the_value() -> None:
    a = spec(secrets=[{"name": "k", "value": "one", "version": "v1"}])
    b = spec(secrets=[{"name": "k", "value": "two", "version": "v1"}])
    c = spec(secrets=[{"name": "k", "value": "two", "version": "v2"}])
    assert ro.secret_key(a) == ro.secret_key(b) != ro.secret_key(c)


def test_docker_names_carry_scope_namespace_and_service() -> None:
    assert ro.docker_name("proj-dev", spec(), "abcd1234", 0) == "proj-dev-apps-web-abcd1234-0"


def test_labels_mirror_the_kubernetes_ones() -> None:
    s = spec(labels={"team": "payments"})
    labels = ro.container_labels(s, s.release, "active")
    assert labels[ro.LABEL_RELEASE] == s.release and labels[ro.LABEL_ROLE] == "active"
    assert labels["team"] == "payments" and labels[ro.LABEL_PORTS] == "http:8080/TCP"
    assert (ro.LABEL_NAME, ro.LABEL_MANAGED_BY, ro.LABEL_RELEASE, ro.LABEL_ROLE) == \
        (m.LABEL_NAME, m.LABEL_MANAGED_BY, m.LABEL_RELEASE, m.LABEL_ROLE)
    annotations = m.pod_template(s, s.release)["metadata"]["annotations"]
    assert {k: v for k, v in labels.items() if k.startswith("prometheus.io/")} == \
        {k: v for k, v in annotations.items() if k.startswith("prometheus.io/")}


def test_label_list_is_sorted_pairs() -> None:
    assert ro.label_list({"b": "2", "a": "1"}) == [{"label": "a", "value": "1"}, {"label": "b", "value": "2"}]


# --- what Docker can honour ------------------------------------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    s = spec(strategy="blue-green", keep_mode="warm",
             network={"ingress_from": [{"namespace": "a"}, {"service": "api"}],
                      "egress_to": [{"namespace": "b"}, {"cidr": "10.0.0.0/8", "ports": [5432]}], "allow_dns": False},
             security={"opt_outs": {"network_policy": {"reason": "legacy discovery needs it"}}})
    paths = [p.path for p in ro.docker_problems(s)]
    assert paths == ["network.ingress_from[0].namespace", "network.egress_to[0].namespace",
                     "network.egress_to[1].cidr", "network.allow_dns", "security.opt_outs.network_policy",
                     "keep_mode", "security.opt_outs.exec_lock", "ports[0].service_port"]
    accepted = ro.docker_problems(s, exec_break_glass=True, allow_unfiltered_egress=True)
    assert "network.egress_to[1].cidr" not in [p.path for p in accepted]
    assert "security.opt_outs.exec_lock" not in [p.path for p in accepted]


def test_a_plain_service_with_break_glass_has_no_problem() -> None:
    assert ro.docker_problems(spec(), exec_break_glass=True) == []


def test_adaptations_are_listed_only_where_they_apply() -> None:
    plain = ro.adaptations(spec(probes={"liveness": {"exec_command": ["/x"]}, "readiness": {"exec_command": ["/y"]}}),
                           linked=False, unfiltered_egress=False)
    assert set(plain) == {"probes.liveness", "strategy"}
    full = ro.adaptations(
        spec(network={"ingress_from": [{"ingress_controller": True}], "egress_to": [{"cidr": "10.0.0.0/8", "ports": [1]}]},
             expose={"ingress": {"hostname": "a.example.com", "tls_secret": "t"}},
             state={"volumes": [{"claim_name": "d", "mount_path": "/d"}]},
             security={"opt_outs": {"service_account_token": {"reason": "reads the token on k8s"}}}),
        linked=True, unfiltered_egress=True)
    assert set(full) == {"probes.liveness", "probes.readiness", "strategy", "expose.ingress", "network",
                         "network.egress_to", "state.volumes", "security.opt_outs.service_account_token"}
