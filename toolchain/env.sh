# Environment for the project's pinned Pulumi CLI. Source it (bash or zsh):
#
#     . toolchain/env.sh
#
# Same settings as toolchain/pulumi_env.py: .toolchain/bin first on PATH,
# project-local PULUMI_HOME, no update checks, no plugin downloads. The backend is
# yours: PULUMI_BACKEND_URL if set, else what `pulumi login <url>` stored in this
# PULUMI_HOME, else a login to the local file backend .state/backend is written
# (a later `pulumi login s3://...` replaces it). PULUMI_ACCESS_TOKEN/PULUMI_API are
# dropped unless the backend is a Pulumi Cloud (http[s]) URL. Build the binaries first with
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

mkdir -p "$PULUMI_HOME"
# The CLI's automatic logs: off (a file where their directory would be) unless
# IMMUTABLE_PULUMI_AUTOMATIC_LOGS=on; why, and how an old directory is handled: pulumi_env.py automatic_logs.
_tc_logs_placeholder='A file, not a directory, on purpose: the Pulumi CLI cannot create its automatic-log directory
here and runs without those logs. Set IMMUTABLE_PULUMI_AUTOMATIC_LOGS=on to keep them
(toolchain/pulumi_env.py, automatic_logs).'
case "${IMMUTABLE_PULUMI_AUTOMATIC_LOGS:-}" in
    on | 1 | true)
        # Only our placeholder goes, as in pulumi_env.py: a file of somebody else's stays.
        if [ -f "$PULUMI_HOME/logs" ] && [ "$(cat "$PULUMI_HOME/logs")" = "$_tc_logs_placeholder" ]; then
            rm -f "$PULUMI_HOME/logs"
        fi
        ;;
    *)
        if [ ! -e "$PULUMI_HOME/logs" ]; then
            printf '%s\n' "$_tc_logs_placeholder" > "$PULUMI_HOME/logs"
        fi
        ;;
esac
unset _tc_logs_placeholder
if [ -n "${PULUMI_BACKEND_URL:-}" ]; then
    case "$PULUMI_BACKEND_URL" in
        file://* | s3://* | gs://* | azblob://* | postgres://* | https://* | http://*) ;;
        *)
            echo "toolchain/env.sh: PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL is not a backend URL" \
                "(file://, s3://, gs://, azblob://, postgres://, https://); left unset" >&2
            unset PULUMI_BACKEND_URL
            ;;
    esac
else
    unset PULUMI_BACKEND_URL  # empty means "not chosen"
fi
_tc_url=${PULUMI_BACKEND_URL:-}
if [ -z "$_tc_url" ] && [ -f "$PULUMI_HOME/credentials.json" ]; then
    _tc_url=$(sed -n 's/^[[:space:]]*"current":[[:space:]]*"\([^"]*\)".*/\1/p' "$PULUMI_HOME/credentials.json" | head -n 1)
fi
if [ -z "$_tc_url" ]; then
    # Nothing chosen: log in to the local file backend (what `pulumi login file://...` writes).
    _tc_url=file://$_tc_root/.state/backend
    printf '{\n    "current": "%s",\n    "accessTokens": {\n        "%s": ""\n    }\n}\n' "$_tc_url" "$_tc_url" \
        > "$PULUMI_HOME/credentials.json"
fi
case "$_tc_url" in
    https://* | http://*) ;;
    *) unset PULUMI_ACCESS_TOKEN PULUMI_API ;;
esac

PULUMI_SKIP_UPDATE_CHECK=true
PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
export PULUMI_SKIP_UPDATE_CHECK PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK
# Plugins on PATH would win over PULUMI_HOME without a version check (and warn on every run):
# the bundled ones are still found next to .toolchain/bin/pulumi, Kubernetes comes from PULUMI_HOME.
PULUMI_IGNORE_AMBIENT_PLUGINS=true
export PULUMI_IGNORE_AMBIENT_PLUGINS
case "$_tc_url" in
    file:///*) mkdir -p "${_tc_url#file://}" ;;
esac

unset _tc_root _tc_bin _tc_url
