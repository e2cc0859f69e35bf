#!/usr/bin/env bash
# Builds the worker (build/worker/shim.mjs + wasm), the Cloud API stand-in and otpctl.
# `--worker-only`: the worker alone, as `npx wrangler deploy` runs it (wrangler.toml
# [build]). `./dev` builds first and then runs wrangler with OTP_WORKER_PREBUILT=1,
# so wrangler's own build step does not build the same thing twice.
set -euo pipefail
if [ "${1:-}" = "--worker-only" ] && [ "${OTP_WORKER_PREBUILT:-}" = "1" ]; then
  exit 0
fi
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
step "building the worker (worker-build --release)"
worker-build --release >&2
strip_wasm_names build/index_bg.wasm
if [ "${1:-}" = "--worker-only" ]; then
  exit 0
fi
step "building the Cloud API stand-in and otpctl"
cargo build --quiet --release -p meta-standin -p otpctl >&2
