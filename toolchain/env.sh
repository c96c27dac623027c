# Environment for the project's pinned Pulumi CLI. Source it (bash or zsh):
#
#     . toolchain/env.sh
#
# Same settings as toolchain/pulumi_env.py: .toolchain/bin first on PATH,
# project-local PULUMI_HOME and file:// backend (a file:// PULUMI_BACKEND_URL
# already set is kept; anything else is refused), no update checks, no plugin
# downloads, never the Pulumi Cloud. Build the binaries first with
# `python3 toolchain/build.py`. From another shell, set
# TOOLCHAIN_PROJECT_ROOT to the checkout before sourcing.

if [ -n "${TOOLCHAIN_PROJECT_ROOT:-}" ]; then
    _tc_root=$TOOLCHAIN_PROJECT_ROOT
elif [ -n "${BASH_VERSION:-}" ]; then
    _tc_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
elif [ -n "${ZSH_VERSION:-}" ]; then
    eval '_tc_root=$(cd "$(dirname "${(%):-%x}")/.." && pwd)'
elif [ -f "$PWD/toolchain/env.sh" ]; then
    _tc_root=$PWD
else
    echo "toolchain/env.sh: cannot tell where the project is; set TOOLCHAIN_PROJECT_ROOT" >&2
    return 1 2>/dev/null || exit 1
fi

_tc_bin=$_tc_root/.toolchain/bin
case ":${PATH:-}:" in
    *":$_tc_bin:"*) PATH=$(printf '%s' ":$PATH:" | sed "s#:$_tc_bin:#:#g; s#^:##; s#:\$##") ;;
esac
PATH=$_tc_bin${PATH:+:$PATH}
export PATH

PULUMI_HOME=$_tc_root/.state/pulumi-home
export PULUMI_HOME

case "${PULUMI_BACKEND_URL:-}" in
    "") PULUMI_BACKEND_URL=file://$_tc_root/.state/backend ;;
    file://*) ;;
    *)
        echo "toolchain/env.sh: PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL refused: only file:// backends are used here" >&2
        PULUMI_BACKEND_URL=file://$_tc_root/.state/backend
        ;;
esac
export PULUMI_BACKEND_URL

PULUMI_SKIP_UPDATE_CHECK=true
PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
export PULUMI_SKIP_UPDATE_CHECK PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK
# Plugins on PATH would win over PULUMI_HOME without a version check (and warn on every run):
# the bundled ones are still found next to .toolchain/bin/pulumi, Kubernetes comes from PULUMI_HOME.
PULUMI_IGNORE_AMBIENT_PLUGINS=true
export PULUMI_IGNORE_AMBIENT_PLUGINS
unset PULUMI_ACCESS_TOKEN PULUMI_API

mkdir -p "$PULUMI_HOME"
case "$PULUMI_BACKEND_URL" in
    file:///*) mkdir -p "${PULUMI_BACKEND_URL#file://}" ;;
esac

unset _tc_root _tc_bin
