#!/usr/bin/env bash
# Builds the worker (build/worker/shim.mjs + wasm), the Cloud API stand-in and otpctl.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
step "building the worker (worker-build --release)"
worker-build --release >&2
strip_wasm_names build/index_bg.wasm
step "building the Cloud API stand-in and otpctl"
cargo build --quiet --release -p meta-standin -p otpctl >&2
