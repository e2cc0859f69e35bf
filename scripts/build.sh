#!/usr/bin/env bash
# Builds the worker (build/worker/shim.mjs + wasm), the Cloud API stand-in and otpctl.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
step "building the worker (worker-build --release)"
worker-build --release >&2
# worker-build keeps the function-name section (wasm-opt --debuginfo): a fifth of the
# module, shipped to the edge for nicer stack traces. It goes, unless KEEP_WASM_NAMES=1
# (CPU profiles: ./bench with BENCH_PROFILE=1). Stripping after wasm-bindgen, not with
# Cargo's `strip = true`, which breaks wasm-bindgen.
if [ "${KEEP_WASM_NAMES:-}" != "1" ]; then
  "$WASM_OPT_BIN" build/index_bg.wasm -o build/index_bg.wasm --strip-debug --strip-producers \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling
fi
step "building the Cloud API stand-in and otpctl"
cargo build --quiet --release -p meta-standin -p otpctl >&2
