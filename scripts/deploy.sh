#!/usr/bin/env bash
# The main job: deploy a stack (default dev) with the real Pulumi engine, on the backend you
# chose (PULUMI_BACKEND_URL or `pulumi login`; default: a local file backend under .state/).
# Installs whatever is missing first; for a stack whose
# target is local-cluster (dev) it builds and starts the local control plane with one real node,
# builds the example apps from source into the local registry (registry/apps.py), deploys them on
# real pods and checks that the address answers (stop it with: python3 cluster/local.py stop).
# IMMUTABLE_CLUSTER_NODES=kwok chooses simulated pods instead (scale work; no address).
# For a local-docker stack it starts the project's Docker engine and the edge proxy, builds the
# example apps into the local registry the same way and checks web's fixed address (docs/docker.md).
#   bash scripts/deploy.sh [dev|test|prod] [extra pulumi up args...]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STACK="${1:-dev}"; shift || true

ensure_venv
TARGET="$(stack_target "$STACK")"
# Only what this stack's target runs is built on a fresh machine (the test command builds the rest):
# the Docker provider for a local-docker stack only, the YAML host never (the examples' language).
if [[ "$TARGET" == "local-docker" ]]; then
  ensure_toolchain --unless-cached pulumi-language-yaml
else
  ensure_toolchain --unless-cached pulumi-resource-docker --unless-cached pulumi-language-yaml
fi
if [[ "$TARGET" == "local-cluster" ]]; then
  # Every group, real nodes too: kwok publishes the Ingress addresses beside a real node
  # (cluster/local.py BINARIES; tests/unit/test_toolchain_build.py).
  ensure_cluster_binaries
  start_cluster
fi
if [[ "$TARGET" == "local-docker" ]]; then
  start_docker_engine   # the project's own engine; exports DOCKER_HOST (stop: python3 docker/engine.py stop)
  ensure_probe_binary   # .toolchain/cluster/bin/probe: HTTP/TCP health checks without a shell in the image
  ensure_image_tools    # the local registry and imagetool: the apps' images, as for the real node
  start_edge_proxy      # each published service's fixed 127.0.0.1 address (stop: python3 docker/edge.py stop)
fi

if [[ -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
  if [[ "$STACK" == "dev" ]]; then
    # Dev only: a documented, non-secret passphrase so the first command works on a fresh clone.
    export PULUMI_CONFIG_PASSPHRASE="immutable-dev-only-passphrase"
  else
    fail "secrets" "stack '$STACK' needs PULUMI_CONFIG_PASSPHRASE (or _FILE) supplied by you; only dev has a built-in one"
  fi
fi

cd "$PROJECT_DIR"
step "stack $STACK on $(backend_url)"
pulumi stack select "$STACK" >/dev/null 2>&1 || pulumi stack init "$STACK" --secrets-provider passphrase \
  || fail "stack" "could not select or create stack $STACK"
if [[ "$STACK" == "dev" ]] && ! pulumi config get --path 'immutable:secrets.api-db-password.v1' -s dev >/dev/null 2>&1; then
  pulumi config set --secret --path 'immutable:secrets.api-db-password.v1' "dev-only-db-password" -s dev \
    || fail "stack" "could not set the dev secret"
fi
if runs_app_images "$STACK"; then
  build_app_images "$STACK"
fi
clear_stale_lock "$STACK"
# The ledger must still name every release the stack runs (a merge may have dropped one).
"$VENV/bin/immutable-ops" -C "$PROJECT_DIR" check-ledger "$STACK" \
  || fail "ledger" "Pulumi.$STACK.yaml lacks a release that $STACK runs (see above); nothing was deployed"
# Every release that runs is recorded first (ledger + releases/<stack>.yaml), so the next change keeps
# it exactly. dev records what the code defines; other stacks only run what was recorded and reviewed.
if [[ "$STACK" == "dev" ]]; then
  step "immutable-ops record $STACK"
  "$VENV/bin/immutable-ops" record "$STACK" || fail "record" "could not record the releases of $STACK"
else
  step "immutable-ops record $STACK --check"
  "$VENV/bin/immutable-ops" record "$STACK" --check \
    || fail "record" "$STACK would run unrecorded releases: run immutable-ops record $STACK (or promote), review, commit"
fi
step "pulumi up -s $STACK"
start=$(date +%s)
cluster_truth "$STACK" before
pulumi up --yes --skip-preview=false -s "$STACK" "$@" || fail "pulumi up" "the update failed (see above)"
cluster_truth "$STACK" after
echo "deployed $STACK in $(( $(date +%s) - start ))s; outputs:" >&2
pulumi stack output -s "$STACK" >&2
if runs_app_images "$STACK"; then
  check_address "$STACK"
fi
