#!/usr/bin/env bash
# The main job: deploy a stack (default dev) with the real Pulumi engine, on a local file
# backend under .state/ (git-ignored). Installs whatever is missing first; for a stack whose
# target is local-cluster (dev) it builds and starts the local control plane
# (stop it with: python3 cluster/local.py stop).
#   bash scripts/deploy.sh [dev|test|prod] [extra pulumi up args...]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STACK="${1:-dev}"; shift || true

ensure_venv
ensure_toolchain
if [[ "$(stack_target "$STACK")" == "local-cluster" ]]; then
  ensure_cluster_binaries
  start_cluster
fi
if [[ "$(stack_target "$STACK")" == "local-docker" ]]; then
  start_docker_engine   # the project's own engine; exports DOCKER_HOST (stop: python3 docker/engine.py stop)
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
step "stack $STACK on $PULUMI_BACKEND_URL"
pulumi stack select "$STACK" >/dev/null 2>&1 || pulumi stack init "$STACK" --secrets-provider passphrase \
  || fail "stack" "could not select or create stack $STACK"
if [[ "$STACK" == "dev" ]] && ! pulumi config get immutable-example:api-db-password >/dev/null 2>&1; then
  pulumi config set --secret immutable-example:api-db-password "dev-only-db-password" \
    || fail "stack" "could not set the dev secret"
fi
clear_stale_lock "$STACK"
step "pulumi up -s $STACK"
start=$(date +%s)
pulumi up --yes --skip-preview=false -s "$STACK" "$@" || fail "pulumi up" "the update failed (see above)"
echo "deployed $STACK in $(( $(date +%s) - start ))s; outputs:" >&2
pulumi stack output -s "$STACK" >&2
