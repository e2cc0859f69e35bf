#!/usr/bin/env bash
# The settings ./dev gives the worker beside .dev.vars, one NAME=VALUE a line (values
# unquoted, each on one line). ./dev passes each as `--var NAME:VALUE`; the test of
# the README's quick starts reads the same lines, so both run one configuration.
#
# On the first run it generates a dev ES256 signing key into STATE_DIR (default
# .state/, git-ignored) with otpctl, so tokens are ES256 and /.well-known/jwks.json
# answers as it does in production. Delete the file to get a new key.
#
# Usage: scripts/dev-settings.sh [STATE_DIR]   (STANDIN_PORT: the stand-in's port)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${1:-$ROOT/.state}"
STANDIN_PORT="${STANDIN_PORT:-8788}"
KEY_FILE="$STATE_DIR/dev-signing-key.jwk"
if [ ! -s "$KEY_FILE" ]; then
  mkdir -p "$STATE_DIR"
  # Line 1 is the private JWK (the secret), line 2 its public half.
  "$ROOT/target/release/otpctl" keys generate --kid "dev-$(date -u +%Y%m%d%H%M%S)" | sed -n 1p >"$KEY_FILE.new"
  chmod 600 "$KEY_FILE.new"
  mv "$KEY_FILE.new" "$KEY_FILE"
  printf '[dev] generated a dev ES256 signing key in %s\n' "$KEY_FILE" >&2
fi
cat <<SETTINGS
WHATSAPP_API_BASE=http://127.0.0.1:$STANDIN_PORT
WHATSAPP_PHONE_NUMBER_ID=100000000000001
WHATSAPP_BUSINESS_NUMBER=15550001234
WHATSAPP_TEMPLATE_NAME=otp_code
DEMO_PAGE=true
ALLOWED_ORIGINS=*
IP_MAX_REQUESTS_PER_HOUR=1000
TOKEN_AUDIENCE=my-backend
TOKEN_SIGNING_KEY=$(cat "$KEY_FILE")
SETTINGS
