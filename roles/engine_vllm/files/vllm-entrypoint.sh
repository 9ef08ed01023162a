#!/bin/sh
# Entrypoint of the vLLM containers (the local CPU image slm-fleet/vllm-cpu and the upstream GPU
# image vllm/vllm-openai): starts vLLM's OpenAI-compatible server with the API key read from a file.
#
#   VLLM_API_KEY_FILE  path of a file holding the API key (e.g. the compose secret
#                      /run/secrets/vllm_api_key). When set, the file must exist and hold a key:
#                      otherwise the container refuses to start. When unset, the server runs
#                      without authentication (use only on a loopback-bound port).
#
# The key is exported as VLLM_API_KEY to the server process only: it never appears in the
# container's configuration (`docker inspect`), on a command line or in this script's output.
# vLLM reads VLLM_API_KEY when --api-key is not given and then requires `Authorization: Bearer
# <key>` on /v1/* routes.
#
# `python3 -m vllm.entrypoints.openai.api_server` rather than the `vllm` console script: the
# console script looks up the distribution named `vllm`, which the CPU build (`vllm-cpu`) is not.
set -eu

die() {
    printf 'vllm-entrypoint: %s\n' "$*" >&2
    exit 64
}

for arg in "$@"; do
    case $arg in
        --api-key | --api-key=*)
            die "refusing --api-key on the command line (it would show in docker inspect and ps); put the key in a file and set VLLM_API_KEY_FILE" ;;
    esac
done

if [ -n "${VLLM_API_KEY:-}" ]; then
    die "VLLM_API_KEY is set in the container's environment (visible in docker inspect); put the key in a file and set VLLM_API_KEY_FILE instead"
fi

if [ -n "${VLLM_API_KEY_FILE+set}" ]; then
    [ -n "$VLLM_API_KEY_FILE" ] || die "VLLM_API_KEY_FILE is set but empty; give the path of the API key file or unset it"
    [ -e "$VLLM_API_KEY_FILE" ] || die "API key file $VLLM_API_KEY_FILE (VLLM_API_KEY_FILE) does not exist; mount it (e.g. as a compose secret)"
    [ -f "$VLLM_API_KEY_FILE" ] || die "API key file $VLLM_API_KEY_FILE (VLLM_API_KEY_FILE) is not a regular file"
    [ -r "$VLLM_API_KEY_FILE" ] || die "API key file $VLLM_API_KEY_FILE (VLLM_API_KEY_FILE) is not readable by uid $(id -u); fix its owner or mode"
    # First line, surrounding whitespace and a trailing CR removed.
    key=$(sed -n '1{s/\r$//;s/^[[:space:]]*//;s/[[:space:]]*$//;p;}' "$VLLM_API_KEY_FILE")
    [ -n "$key" ] || die "API key file $VLLM_API_KEY_FILE (VLLM_API_KEY_FILE) is empty; write the key into it"
    VLLM_API_KEY=$key
    export VLLM_API_KEY
    unset key
fi
# vLLM warns about VLLM_* variables it does not know.
unset VLLM_API_KEY_FILE

exec python3 -m vllm.entrypoints.openai.api_server "$@"
