# Sourced by ./dev, ./test and ./bench: installs what is missing, exports the tool paths.
# Nothing is downloaded from GitHub: wasm-bindgen comes from crates.io, wasm-opt and
# esbuild from npm. A second run only checks.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
export WRANGLER_SEND_METRICS=false
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '[setup] %s\n' "$*" >&2; }

if [ ! -d "$(rustc --print sysroot)/lib/rustlib/wasm32-unknown-unknown" ]; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown >&2
fi

# worker-build's minor version must match the `worker` crate's.
WORKER_VERSION="$(awk '/^name = "worker"$/{getline; gsub(/"/,"",$3); print $3; exit}' "$ROOT/Cargo.lock")"
if [ "$("$TOOLS/bin/worker-build" --version 2>/dev/null | awk '{print $NF}')" != "$WORKER_VERSION" ]; then
  step "installing worker-build $WORKER_VERSION"
  cargo install --quiet worker-build --version "$WORKER_VERSION" --root "$TOOLS" >&2
fi

BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' "$ROOT/Cargo.lock")"
if [ "$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null | awk '{print $NF}')" != "$BINDGEN_VERSION" ]; then
  step "installing wasm-bindgen-cli $BINDGEN_VERSION (matches Cargo.lock)"
  # Not --locked: the registry here lacks one of its locked dependencies.
  cargo install --quiet wasm-bindgen-cli --version "$BINDGEN_VERSION" --root "$TOOLS" >&2
fi

# By content, not mtime: a fresh checkout's lock file is always newer than an install.
LOCK_SUM="$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)"
if [ ! -x "$ROOT/node_modules/.bin/wrangler" ] || [ "$(cat "$ROOT/node_modules/.installed-lock-sha256" 2>/dev/null)" != "$LOCK_SUM" ]; then
  step "installing node tools (npm ci)"
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$LOCK_SUM" >"$ROOT/node_modules/.installed-lock-sha256"
fi

# Python test tools, in their own venv: schemathesis (the worker against its OpenAPI
# document), openapi-spec-validator (the document is valid 3.1) and PyJWT (the README's
# backend snippet). From PyPI, pinned.
PY_TOOLS=(schemathesis==4.32.5 openapi-spec-validator==0.9.0 "PyJWT[crypto]==2.15.1")
if ! "$TOOLS/venv/bin/python" -c 'import schemathesis, openapi_spec_validator, jwt, cryptography' 2>/dev/null \
  || [ "$("$TOOLS/venv/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "4.32.5" ]; then
  step "installing Python test tools into .tools/venv (${PY_TOOLS[*]})"
  python3 -m venv "$TOOLS/venv" >&2
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}" >&2
fi

export PATH="$TOOLS/bin:$PATH"
export PYTHON_TOOLS="$TOOLS/venv/bin"
export WASM_BINDGEN_BIN="$TOOLS/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
export WRANGLER="$ROOT/node_modules/.bin/wrangler"

# Stops any service group (stand-in, wrangler + workerd) that an interrupted test
# or benchmark run left behind; the harness lists them in target/e2e/groups.
# worker-build keeps the function-name section (wasm-opt --debuginfo): a fifth of the
# module, shipped to the edge for nicer stack traces. It goes, unless KEEP_WASM_NAMES=1
# (CPU profiles: ./bench with BENCH_PROFILE=1). Stripped after wasm-bindgen, not with
# Cargo's `strip = true`, which breaks wasm-bindgen.
strip_wasm_names() {
  if [ "${KEEP_WASM_NAMES:-}" = "1" ]; then
    return
  fi
  "$WASM_OPT_BIN" "$1" -o "$1" --strip-debug --strip-producers \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling
}

stop_leftovers() {
  local group
  for group in "$ROOT"/target/e2e/groups/*; do
    [ -e "$group" ] || continue
    kill -KILL -- "-$(basename "$group")" 2>/dev/null || true
    rm -f "$group"
  done
}

# The reference page's tests (./test only) drive a real headless Chromium through
# chromedriver, Debian's own packages (CI is a fresh Debian machine, as root), with
# axe-core and jsQR from npm.
setup_browser_tests() {
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    step "installing chromium and chromium-driver (apt-get)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium chromium-driver >&2
  fi
  if [ ! -d "$ROOT/tests/browser/node_modules/axe-core" ] || [ "$ROOT/tests/browser/package-lock.json" -nt "$ROOT/tests/browser/node_modules/.package-lock.json" ]; then
    step "installing the browser tests' node packages (npm ci in tests/browser)"
    (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
}
