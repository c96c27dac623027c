# Shared set-up for scripts/*.sh: a project venv and the Pulumi toolchain built from source.
# Sourced, not run. Idempotent: a warm machine does nothing but checks.
set -euo pipefail
PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$PROJECT_DIR/.venv"

step() { printf '\n==> %s\n' "$*" >&2; }
fail() { printf '\nERROR in step "%s": %s\n' "$1" "$2" >&2; exit 1; }

layer_venv() {
  # .venv links to a venv kept for other checkouts (a runner keeps one between jobs, each job in
  # another copy of the repository, some side by side): it is never re-pointed; this checkout
  # gets a thin venv of its own whose path holds the kept venv's installed packages.
  local kept site kept_site
  kept="$(readlink -f "$VENV")"
  kept_site="$("$kept/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  rm "$VENV"
  "$kept/bin/python" -m venv --without-pip "$VENV" || fail "python venv" "python -m venv failed"
  site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$kept_site" > "$site/kept-venv.pth"
  cp "$kept/.requirements.sha256" "$VENV/.requirements.sha256"
  # Native tools (ruff) need no interpreter: linked. Python ones would run the kept venv's
  # interpreter and library: they run as `python -m` (scripts/test.sh).
  local tool
  for tool in "$kept"/bin/*; do
    if [[ -f "$tool" && ! -e "$VENV/bin/${tool##*/}" && "$(head -c 4 "$tool" | od -An -c | tr -d ' ')" == '177ELF' ]]; then
      ln -s "$tool" "$VENV/bin/${tool##*/}"
    fi
  done
}

ensure_venv() {
  # The pinned requirements, and the library installed editable from THIS checkout: a pull
  # request's change to components/ must never be previewed with another checkout's code.
  local stamp="$VENV/.requirements.sha256" editable="$VENV/.editable-project"
  local want
  want="$(cat "$PROJECT_DIR/requirements.txt" "$PROJECT_DIR/requirements-dev.txt" "$PROJECT_DIR/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    if [[ "$(cat "$editable" 2>/dev/null)" != "$PROJECT_DIR" ]]; then
      if [[ -L "$VENV" ]]; then layer_venv; fi
      step "python venv (.venv): the library installed editable from $PROJECT_DIR"
      "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$PROJECT_DIR" \
        || fail "python venv" "pip install -e . failed"
      echo "$PROJECT_DIR" > "$editable"
    fi
    return 0
  fi
  if [[ -L "$VENV" ]]; then
    # a runner's kept venv with other pins (this change edits them): this checkout gets its own
    step "python venv (.venv): the kept venv $(readlink "$VENV") has other pins; making this checkout's own"
    rm "$VENV"
  fi
  step "python venv (.venv): installing pinned requirements"
  python3 -m venv "$VENV" || fail "python venv" "python3 -m venv failed"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
  "$VENV/bin/pip" install -q -r "$PROJECT_DIR/requirements-dev.txt" || fail "python venv" "pip install -r requirements-dev.txt failed"
  "$VENV/bin/pip" install -q --no-deps --no-build-isolation -e "$PROJECT_DIR" || fail "python venv" "pip install -e . failed"
  echo "$PROJECT_DIR" > "$editable"
  echo "$want" > "$stamp"
}

ensure_toolchain() {
  # Arguments go to toolchain/build.py (scripts/deploy.sh: --unless-cached for what a stack does not use).
  step "Pulumi toolchain (built from source, cached by version)"
  python3 "$PROJECT_DIR/toolchain/build.py" "$@" || fail "toolchain" "toolchain/build.py failed (see its output above)"
  # shellcheck source=/dev/null
  source "$PROJECT_DIR/toolchain/env.sh"
}

CHECKOV_VERSION="3.2.495"
CHECKOV_VENV="$PROJECT_DIR/.state/tools/checkov-$CHECKOV_VERSION"

ensure_checkov() {
  # Checkov has its own venv: its dependency pins clash with the project's.
  if [[ -x "$CHECKOV_VENV/bin/checkov" ]]; then return 0; fi
  step "checkov $CHECKOV_VERSION (own venv under .state/tools)"
  python3 -m venv "$CHECKOV_VENV" || fail "checkov" "python3 -m venv failed"
  "$CHECKOV_VENV/bin/pip" install -q "checkov==$CHECKOV_VERSION" || fail "checkov" "pip install checkov failed"
}

# Debian packages a real node needs (issue #21): containerd + runc run the pods, the CNI
# plugins wire them to the project's bridge, iptables is kube-proxy's and kubelet's backend,
# busybox-static is the shell of the break-glass debug image (registry/local.py push-images).
NODE_PACKAGES=(containerd runc containernetworking-plugins iptables busybox-static)

ensure_node_packages() {
  # Idempotent: only missing packages are installed, through apt-get from Debian's archive.
  local missing=() p
  for p in "${NODE_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  step "Debian packages for the real node: ${missing[*]}"
  [[ $(id -u) -eq 0 ]] || fail "node packages" "installing ${missing[*]} needs root (apt-get install)"
  # The Debian containerd package enables a systemd unit; the project never uses the system
  # daemon (cluster/local.py runs its own containerd on private paths), so don't start one.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
           --no-install-recommends "${missing[@]}" >/dev/null; } \
    || fail "node packages" "apt-get install ${missing[*]} failed"
}

ensure_prometheus() {
  # The local cluster's Prometheus (issue #33; cluster/monitoring.py), Debian's 2.42. The package
  # ships a systemd unit and an init script for a system-wide Prometheus; the project runs its own
  # under the cluster's supervisor, so the install must not start that one.
  dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q "install ok installed" && return 0
  step "Debian package prometheus (the local cluster's monitoring)"
  [[ $(id -u) -eq 0 ]] || fail "prometheus" "installing prometheus needs root (apt-get install)"
  apt_install_no_services "prometheus" prometheus
}

ensure_cluster_binaries() {
  # Arguments go to cluster/build.py.
  ensure_node_packages
  step "local Kubernetes control plane binaries (built from source, cached by version)"
  python3 "$PROJECT_DIR/cluster/build.py" "$@" || fail "cluster build" "cluster/build.py failed (see its output above)"
}

stack_nodes() {
  # `real` (one real node: containerd, kubelet, kube-proxy; images from the local registry) unless
  # kwok's simulated pods are chosen explicitly: IMMUTABLE_CLUSTER_NODES=kwok (scale work).
  echo "${IMMUTABLE_CLUSTER_NODES:-real}"
}

start_cluster() {
  local nodes
  nodes="$(stack_nodes "${STACK:-dev}")"
  if [[ "$nodes" == "real" ]]; then ensure_node_packages; fi
  step "local cluster (.state/cluster, $nodes nodes)"
  python3 "$PROJECT_DIR/cluster/local.py" start --nodes "$nodes" \
    || fail "cluster" "cluster/local.py start --nodes $nodes failed (logs: .state/cluster/logs/)"
  if [[ "$nodes" == "real" ]]; then
    # Per-release metrics of the pods (docs/monitoring.md); IMMUTABLE_PROMETHEUS=off skips it.
    if [[ "${IMMUTABLE_PROMETHEUS:-on}" != "off" ]]; then
      ensure_prometheus
      python3 "$PROJECT_DIR/cluster/local.py" prometheus --environment "${STACK:-dev}" \
        || fail "prometheus" "cluster/local.py prometheus failed (log: .state/cluster/logs/prometheus.log)"
    fi
  fi
}

image_build_step() {
  # The image build step (registry/apps.py): the registry first, then the apps changed since
  # their last build are built, pushed and appended to the stack's ledger (the workflows run it
  # for dev, whatever dev's target).
  local stack="$1"
  python3 "$PROJECT_DIR/registry/local.py" start >&2 \
    || fail "registry" "python3 registry/local.py start failed (log: .state/registry/logs/)"
  step "image build step: registry/apps.py build $stack (only what changed)"
  "$VENV/bin/python" "$PROJECT_DIR/registry/apps.py" build "$stack" \
    || fail "images" "the image build step failed (see above); nothing was deployed"
}

build_app_images() {
  # The image build step, then every image the ledger names must be in the registry the stack
  # pulls from (the real node's, the project's Docker engine's), or nothing is deployed.
  local stack="$1"
  image_build_step "$stack"
  "$VENV/bin/python" "$PROJECT_DIR/registry/apps.py" check "$stack" \
    || fail "images" "Pulumi.$stack.yaml names images the registry lacks (see above); nothing was deployed"
}

check_address() {
  # The stack's address (output web_address) must answer from this machine with the page of the
  # web release the stack runs and the api release it reached, before the job says it succeeded.
  local stack="$1" url web api
  url="$(pulumi stack output web_address -s "$stack" 2>/dev/null)" || return 0
  web="$(pulumi stack output web_release -s "$stack")"
  api="$(pulumi stack output api_release -s "$stack")"
  step "checking $url answers (web $web, api $api)"
  "$VENV/bin/python" - "$url" "$web" "$api" <<'PY' || fail "address" "$url did not answer with web $web and api $api (see above)"
import sys, time, urllib.request
url, web, api = sys.argv[1:]
deadline, last = time.monotonic() + 90, ""
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            last = resp.read().decode()
        if f"web release {web} " in last and f"api release {api} " in last:
            print(f"\n{url} answers:\n{last}", file=sys.stderr)
            sys.exit(0)
    except OSError as exc:
        last = str(exc)
    time.sleep(1)
print(f"last answer: {last}", file=sys.stderr)
sys.exit(1)
PY
  echo "$stack answers at $url (web release $web, api release $api)" >&2
}

stack_target() {
  # The stack's immutable:environment.target, as the program will read it.
  "$VENV/bin/python" - "$PROJECT_DIR/Pulumi.$1.yaml" <<'PY'
import sys, yaml
config = (yaml.safe_load(open(sys.argv[1])) or {}).get("config", {})
print((config.get("immutable:environment") or {}).get("target", "render"))
PY
}

backend_url() {
  # The backend the CLI uses: PULUMI_BACKEND_URL, else the `pulumi login` in PULUMI_HOME (env.sh
  # writes a login to the local file backend when nothing was chosen). Passwords masked.
  "$VENV/bin/immutable-ops" backend-url
}

clear_stale_lock() {
  # A killed `pulumi up` leaves its lock in the backend (a file, or an object in the bucket);
  # cancel it only when every lock of the stack was taken on this host by a process that is
  # gone. A lock from another host may be a teammate's or a runner's running update: it is
  # left alone, and `pulumi up` then stops with Pulumi's lock error naming who holds it.
  local stack="$1"
  if "$VENV/bin/immutable-ops" stale-lock "$stack" >&2; then
    step "cancelling the stale lock of a killed update on $stack"
    pulumi cancel --yes -s "$stack" || true
  fi
}

cluster_truth() {
  # The state must describe the cluster (components/ops/converge.py). `before` the update: objects
  # the state lists but the cluster lacks (a local cluster stopped and started again) are refreshed
  # out of the state, so the update creates them instead of printing "unchanged". `after`: every
  # object must be there, or the main job fails instead of printing success.
  local stack="$1" when="$2"
  "$VENV/bin/immutable-ops" -C "$PROJECT_DIR" converge "$stack" "$when" >&2 \
    || fail "cluster check" "the cluster does not hold what the state of $stack describes (see above)"
}

require_shared_backend() {
  # CI: the state must outlive the runner and be shared by every job, runner and engineer. A
  # local file:// backend (or none: the CLI's default is the Pulumi Cloud) is refused up front.
  local url="${PULUMI_BACKEND_URL:-}"
  case "$url" in
    s3://* | gs://* | azblob://* | postgres://* | https://*)
      echo "state backend: ${url%%\?*}" ;;
    *)
      echo "::error::set the repository variable PULUMI_BACKEND_URL to a shared backend" \
        "(s3://<bucket>?region=<region>, gs://, azblob://, postgres://, or your Pulumi Cloud URL); got '${url%%\?*}'." \
        "A runner's file:// backend is lost with the runner. See docs/state.md." >&2
      return 1 ;;
  esac
}

# --- local Docker engine (docker/engine.py supervises it; packages from Debian) ---------------

DOCKER_PACKAGES=(docker.io containerd runc iptables tini)

ensure_docker_packages() {
  # dockerd, containerd and runc come from Debian (docker.io 20.10 in bookworm). Installing only
  # when a binary is missing keeps a warm machine at zero apt calls.
  if command -v dockerd >/dev/null && command -v containerd >/dev/null && command -v runc >/dev/null \
     && [[ -x /usr/bin/docker ]] && command -v iptables >/dev/null; then
    return 0
  fi
  step "Docker engine packages from Debian (${DOCKER_PACKAGES[*]})"
  apt_install_no_services "docker packages" "${DOCKER_PACKAGES[@]}"
}

apt_install_no_services() {
  # apt-get install "$@" (after the step name $1) without letting the packages' maintainer
  # scripts start system-wide daemons (a dockerd on /var/lib/docker, a Caddy on :80): exit
  # code 101 of policy-rc.d tells invoke-rc.d not to; the project runs its own instances.
  local what="$1"; shift
  command -v apt-get >/dev/null || fail "$what" "apt-get not found: install $* yourself"
  local made_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 || {
    apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2; } \
    || rc=$?
  [[ -n "$made_policy" ]] && rm -f /usr/sbin/policy-rc.d
  [[ $rc -eq 0 ]] || fail "$what" "apt-get install $* failed"
}

start_docker_engine() {
  # Starts (or finds running) the project's engine and exports DOCKER_HOST for what runs next.
  ensure_docker_packages
  step "local Docker engine (.state/docker)"
  python3 "$PROJECT_DIR/docker/engine.py" start >&2 || fail "docker engine" "docker/engine.py start failed (logs: .state/docker/logs/)"
  DOCKER_HOST="$(python3 "$PROJECT_DIR/docker/engine.py" host)"
  export DOCKER_HOST
}

ensure_edge_proxy() {
  # The edge proxy of the local Docker target is Debian's Caddy (2.6; docs/docker.md says why
  # Caddy and how long it takes). Installing only when missing keeps a warm machine at zero apt calls.
  [[ -x /usr/bin/caddy ]] && return 0
  step "edge proxy package from Debian (caddy)"
  apt_install_no_services "edge proxy" caddy
}

start_edge_proxy() {
  # The fixed 127.0.0.1 address of each published service (Caddy + the route sync, under
  # cluster/supervisor.py; stop: python3 docker/edge.py stop). Needs DOCKER_HOST (start_docker_engine).
  ensure_edge_proxy
  step "edge proxy (.state/edge)"
  python3 "$PROJECT_DIR/docker/edge.py" start >&2 || fail "edge proxy" "docker/edge.py start failed (logs: .state/edge/logs/)"
}

runs_app_images() {
  # The stack runs the example apps' images from the local registry: the real node, or the
  # project's Docker engine (kwok's simulated pods pull nothing).
  local target
  target="$(stack_target "$1")"
  [[ "$target" == "local-docker" || ( "$target" == "local-cluster" && "$(stack_nodes "$1")" == "real" ) ]]
}

ensure_image_tools() {
  # What build_app_images needs without a cluster build: the registry and imagetool (cached).
  step "local registry and imagetool (built from source, cached)"
  python3 "$PROJECT_DIR/cluster/build.py" --only registry --only imagetool >&2 \
    || fail "image tools" "cluster/build.py --only registry --only imagetool failed"
}

ensure_probe_binary() {
  # Docker health checks run our static probe binary in exec form (no shell in the image).
  step "probe binary (docker/probe, built from source, cached)"
  python3 "$PROJECT_DIR/cluster/build.py" --only probe >&2 || fail "probe" "cluster/build.py --only probe failed"
}

stop_docker_engine() {
  python3 "$PROJECT_DIR/docker/engine.py" stop || fail "docker engine" "docker/engine.py stop failed"
}

stop_dev_real_node() {
  # The cluster tier starts the machine's one real node itself (cluster/node.py allows one per
  # machine). The dev stack's cluster, left running by the main job (`bash scripts/deploy.sh dev`),
  # holds it: stop it first and say so. The next `deploy.sh dev` starts it again and converges
  # (immutable-ops converge recreates what the state describes and the cluster lacks).
  local mode="$PROJECT_DIR/.state/cluster/mode.json"
  [[ -f "$mode" ]] && grep -q '"real"' "$mode" || return 0
  step "stopping dev's local cluster (.state/cluster): the tests need the machine's one real node; bash scripts/deploy.sh dev brings dev back"
  python3 "$PROJECT_DIR/cluster/local.py" stop || fail "cluster" "python3 cluster/local.py stop failed (logs: .state/cluster/logs/)"
}
