#!/usr/bin/env bash
# Build every image the lab and the tests need, locally (no registry needed). Idempotent.
#   slm-fleet/debian:bookworm     base for our images (debootstrap or pulled)
#   slm-fleet/edge-host:bookworm  a systemd "edge host" reached over SSH (lab, molecule)
#   slm-fleet/busybox:test        a ~2 MB image to run on nested engines in tests
#   slm-fleet/ollama-api-emulator the Ollama API emulator (tests and lab only: no Ollama image can be obtained)
#   slm-fleet/vllm-cpu:0.32.0     vLLM's CPU build (engine_vllm, tests/engine): ~2 min, 3.6 GB once
#   slm-fleet/slm-proxy:0.1.0     the front proxy of release switches without a dropped request (nginx-light)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { printf '[images] %s\n' "$*"; }

"$here/base/build.sh"

if [ "${FORCE:-0}" = 1 ] || ! docker image inspect slm-fleet/edge-host:bookworm >/dev/null 2>&1; then
  log "building slm-fleet/edge-host:bookworm"
  docker build -q -t slm-fleet/edge-host:bookworm "$here/edge-host" >/dev/null
else
  log "slm-fleet/edge-host:bookworm already present"
fi

"$here/busybox/build.sh"
"$here/ollama-emulator/build.sh"
"$here/vllm-cpu/build.sh"
"$here/slm-proxy/build.sh"
