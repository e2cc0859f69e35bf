#!/usr/bin/env bash
# The lint gate, run first by ./test (and so by CI): formatting, then clippy with
# warnings as errors for the native crates (core, stand-in, e2e tests, otpctl) and
# for the worker as it ships (wasm32).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    step "adding the $component component"
    rustup component add "$component" >&2
  fi
done
step "lint: cargo fmt --check"
cargo fmt --all -- --check
step "lint: clippy, native (core, stand-in, e2e, otpctl)"
cargo clippy --quiet --workspace --all-targets -- -D warnings
step "lint: clippy, the worker (wasm32)"
cargo clippy --quiet --lib --target wasm32-unknown-unknown -p whatsapp-otp-worker -p floor-rs -- -D warnings
