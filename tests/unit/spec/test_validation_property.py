"""Property: a valid spec with one field corrupted always yields a ``SpecError`` naming that
field (or a field inside it), never another exception, and never echoes a secret (the
service's secret file value, always present, or a value under a secret-looking key)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from immutable_infra import ContainerServiceSpec, SpecError
from immutable_infra.aws import ServerGroupSpec
from immutable_infra.environment import EnvironmentConfig

from ..aws_mocks import server_group_spec
from ..fixtures import SECRET_VALUE, service

Path = tuple[str | int, ...]

RICH_SERVICE = service(
    command=["/app/server"], args=["--port", "8080"],
    env={"LOG_FORMAT": "json", "GREETING": "hello"},
    labels={"team": "web"},
    ports=[{"name": "http", "container_port": 8080, "service_port": 80}, {"name": "metrics", "container_port": 9090}],
    probes={"liveness": {"http_get": {"path": "/healthz", "port": "http"}, "period_seconds": 10},
            "readiness": {"tcp_port": 8080, "failure_threshold": 3}},
    security={"run_as_user": 10001, "scratch_dirs": ["/tmp"]},
    state={"endpoints": [{"name": "DATABASE_URL", "url": "postgres://db.internal:5432/app"}]},
    expose={"ingress": {"hostname": "web.example.com", "tls_secret": "web-tls"}},
    network={"egress_to": [{"cidr": "10.0.0.0/8", "ports": [5432]}]},
)
RICH_GROUP = server_group_spec(volumes=[{"size_gib": 20}], security={"metadata_hop_limit": 1},
                               health_check={"path": "/health", "interval_seconds": 15})
ENVIRONMENT = {"name": "dev", "target": "render", "services": {"web": {"replicas": 2, "hostname": "web.dev.example.com"}},
               "server_groups": {"api": {"min_size": 1, "max_size": 2}}}

BASES: dict[str, tuple[Any, dict[str, Any]]] = {
    "service": (ContainerServiceSpec, RICH_SERVICE),
    "server_group": (ServerGroupSpec, RICH_GROUP),
    "environment": (EnvironmentConfig, ENVIRONMENT),
}


def leaves(data: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every scalar in the input, with its path."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from leaves(value, (*path, index))
    else:
        yield path, data


def containers(data: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every mapping and list in the input (not the root), with its path."""
    if isinstance(data, dict | list):
        if path:
            yield path, data
        items = data.items() if isinstance(data, dict) else enumerate(data)
        for key, value in items:
            yield from containers(value, (*path, key))


def dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def set_at(data: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    target: Any = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return out


# Values no scalar field accepts, whatever its type (text, number, boolean, quantity, secret).
WRONG_FOR_SCALARS = st.sampled_from([{"corrupt": [1, 2]}, [["nested"]], {"value": "plain"}])
# Values no list or mapping field accepts.
WRONG_FOR_CONTAINERS = st.sampled_from([12345, 3.5, True, "a string"])


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[Any, dict[str, Any], str]:
    kind = draw(st.sampled_from(sorted(BASES)))
    model, base = BASES[kind]
    how = draw(st.sampled_from(["scalar", "container", "unknown key"]))
    if how == "scalar":
        path, _ = draw(st.sampled_from(list(leaves(base))))
        return model, set_at(base, path, draw(WRONG_FOR_SCALARS)), dotted(path)
    if how == "container":
        path, _ = draw(st.sampled_from(list(containers(base))))
        return model, set_at(base, path, draw(WRONG_FOR_CONTAINERS)), dotted(path)
    # an unknown key inside a model (not inside a free-form mapping such as env, labels, services)
    models = [(p, v) for p, v in containers(base) if isinstance(v, dict)
              and not (p and p[-1] in ("env", "labels", "tags", "services", "server_groups"))]
    path, _mapping = draw(st.sampled_from([((), base), *models]))
    key = draw(st.sampled_from(["typo", "replcas", "imagee", "secret_value", "api_token"]))
    # The value is a secret: an unknown key that looks secret must be masked too.
    value = SECRET_VALUE if key in ("secret_value", "api_token") else "plain"
    return model, set_at(base, (*path, key), value) if path else {**base, key: value}, dotted((*path, key))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted())
def test_one_corrupted_field_is_named_and_nothing_else_escapes(case: tuple[Any, dict[str, Any], str]) -> None:
    model, data, field = case
    try:
        model.model_validate(data)
    except SpecError as error:
        assert any(p == field or p.startswith((f"{field}.", f"{field}[")) for p in error.paths), (field, error.paths)
        assert SECRET_VALUE not in str(error) and SECRET_VALUE not in repr(error)
    else:
        raise AssertionError(f"corrupting {field} was accepted")


def test_the_bases_are_valid() -> None:
    for model, data in BASES.values():
        model.model_validate(copy.deepcopy(data))
