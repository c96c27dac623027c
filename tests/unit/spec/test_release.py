"""Release id rules: canonical, order-independent, scale knobs excluded (property tests)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from immutable_infra import ContainerServiceSpec, canonical_json, release_id
from immutable_infra.release import release_name, secret_digest

from ..fixtures import IMAGE_B, SECRET_VALUE, service

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**9, 10**9),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)


def _shuffled(data: Any, seed: int) -> Any:
    """The same mapping with keys in another insertion order (recursively)."""
    if isinstance(data, dict):
        keys = list(data)
        if keys:
            k = seed % len(keys)
            keys = keys[k:] + keys[:k]
            keys.reverse() if seed % 2 else None
        return {key: _shuffled(data[key], seed + 1) for key in keys}
    if isinstance(data, list):
        return [_shuffled(v, seed + 1) for v in data]
    return data


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.text(max_size=6), json_values, max_size=6), seed=st.integers(0, 100))
def test_key_order_never_changes_the_id(data: dict[str, Any], seed: int) -> None:
    assert release_id(_shuffled(data, seed)) == release_id(data)


@settings(max_examples=100, deadline=None)
@given(value=st.integers(-10**6, 10**6))
def test_integral_floats_hash_like_ints(value: int) -> None:
    assert canonical_json({"x": float(value)}) == canonical_json({"x": value})


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        canonical_json({"x": float("nan")})


def test_canonical_form_is_compact_and_sorted() -> None:
    assert canonical_json({"b": 1, "a": [1.0, "x"]}) == '{"a":[1,"x"],"b":1}'


# A change to any release-defining field gives a new id.
RELEASE_CHANGES: dict[str, dict[str, Any]] = {
    "image": {"image": IMAGE_B},
    "command": {"command": ["/bin/web"]},
    "args": {"args": ["--verbose"]},
    "env": {"env": {"LOG_FORMAT": "text"}},
    "config": {"config_files": [{"name": "app.toml", "content": "port = 9090\n"}]},
    "secret value": {"secrets": [{"name": "db-password", "value": "another-value"}]},
    "secret version": {"secrets": [{"name": "db-password", "value": SECRET_VALUE, "version": "v2"}]},
    "resources": {"resources": {"cpu_request": "200m", "cpu_limit": "500m", "memory_request": "64Mi",
                                "memory_limit": "128Mi"}},
    "probes": {"probes": {"liveness": {"http_get": {"path": "/live"}}, "readiness": {"http_get": {"path": "/ready"}}}},
    "security": {"security": {"run_as_user": 20000}},
    "ports": {"ports": [{"name": "http", "container_port": 9090}]},
    "state": {"state": {"endpoints": [{"name": "DATABASE_URL", "url": "postgres://db:5432/x"}]}},
}


@pytest.mark.parametrize("change", RELEASE_CHANGES.values(), ids=RELEASE_CHANGES.keys())
def test_release_defining_change_gives_new_id(change: dict[str, Any]) -> None:
    before = ContainerServiceSpec.model_validate(service())
    after = ContainerServiceSpec.model_validate(service(**change))
    assert before.release != after.release


NON_RELEASE_CHANGES: dict[str, dict[str, Any]] = {
    "replicas": {"replicas": 7},
    "keep_previous": {"keep_previous": 3},
    "keep_mode": {"keep_mode": "warm"},
    "network": {"network": {"ingress_from": [{"service": "api"}]}},
    "labels": {"labels": {"team": "payments"}},
}


@pytest.mark.parametrize("change", NON_RELEASE_CHANGES.values(), ids=NON_RELEASE_CHANGES.keys())
def test_scale_and_routing_changes_keep_the_id(change: dict[str, Any]) -> None:
    assert ContainerServiceSpec.model_validate(service(**change)).release == \
        ContainerServiceSpec.model_validate(service()).release


@settings(max_examples=50, deadline=None)
@given(replicas=st.integers(0, 1000))
def test_any_replica_count_keeps_the_id(replicas: int) -> None:
    spec = service(replicas=replicas, strategy="rolling")
    assert ContainerServiceSpec.model_validate(spec).release == ContainerServiceSpec.model_validate(service()).release


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 50))
def test_spec_in_any_key_order_gives_same_id(seed: int) -> None:
    assert ContainerServiceSpec.model_validate(_shuffled(service(), seed)).release == \
        ContainerServiceSpec.model_validate(service()).release


def test_secret_values_never_enter_the_canonical_form() -> None:
    spec = ContainerServiceSpec.model_validate(service())
    from immutable_infra.release import release_fields

    text = json.dumps(release_fields(spec))
    assert SECRET_VALUE not in text
    assert secret_digest(SECRET_VALUE) in text


def test_secret_version_stands_for_the_value() -> None:
    one = service(secrets=[{"name": "db-password", "value": "a-value-1", "version": "7"}])
    two = service(secrets=[{"name": "db-password", "value": "a-value-2", "version": "7"}])
    assert ContainerServiceSpec.model_validate(one).release == ContainerServiceSpec.model_validate(two).release


def test_release_id_is_eight_hex_chars() -> None:
    rid = ContainerServiceSpec.model_validate(service()).release
    assert len(rid) == 8 and int(rid, 16) >= 0


def test_release_name_fits_kubernetes_limit() -> None:
    name = release_name("x" * 80, "abcdef12")
    assert len(name) == 63 and name.endswith("-abcdef12")
