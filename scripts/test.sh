#!/usr/bin/env bash
# The test command: lint, type checks, unit tests (mocks), policy tests and engine tests
# (real Pulumi CLI on a temporary local backend). Installs whatever is missing first.
#   bash scripts/test.sh [pytest args...]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_venv
ensure_toolchain
step "the previous Pulumi toolchain, for the upgrade test (toolchain/previous.py: built once, cached)"
"$VENV/bin/python" "$PROJECT_DIR/toolchain/previous.py" >/dev/null || fail "previous toolchain" "toolchain/previous.py failed"
ensure_cluster_binaries
ensure_prometheus        # tests/cluster/test_monitoring*.py: the local cluster's Prometheus (Debian 2.42)
ensure_docker_packages   # the docker-marked tests start their own engine (docker/engine.py)
ensure_edge_proxy        # ... and their own edge proxy (docker/edge.py: Debian's caddy)
ensure_checkov
python3 "$PROJECT_DIR/toolchain/go_tools.py" actionlint act || fail "go tools" "toolchain/go_tools.py actionlint act failed"
export IMMUTABLE_CHECKOV="$CHECKOV_VENV/bin/checkov"
cd "$PROJECT_DIR"
# Python tools as `python -m`: a runner's job venv layered over a kept one (scripts/lib.sh
# layer_venv) has no console scripts but its own; ruff is a native binary, linked there.
step "ruff"
"$VENV/bin/ruff" check . || fail "ruff" "lint errors"
step "mypy (strict on components/)"
"$VENV/bin/python" -m mypy components || fail "mypy" "type errors"
stop_dev_real_node   # the cluster tier needs the machine's one real node
# Two workers (pytest-xdist): the machine's singletons (the real node, the Docker engine, the
# S3 server) each run whole on one worker while the engine, policy and unit tests fill the other
# (tests/conftest.py). IMMUTABLE_TEST_WORKERS=0 runs everything in one process, in order.
WORKERS="${IMMUTABLE_TEST_WORKERS:-2}"
# A short temporary root: the tests' engines and nodes put unix sockets under their tmp_path, and
# the workers' own folder (popen-gwN) pushed containerd's past the kernel's 108-byte limit.
BASETEMP="${IMMUTABLE_TEST_TMP:-/tmp/imt}"
step "pytest ($WORKERS workers, temporary files under $BASETEMP)"
if [[ "$WORKERS" == "0" ]]; then
  "$VENV/bin/python" -m pytest --basetemp "$BASETEMP" "$@"
else
  "$VENV/bin/python" -m pytest -n "$WORKERS" --dist loadgroup --basetemp "$BASETEMP" "$@"
fi
