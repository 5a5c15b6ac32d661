#!/usr/bin/env bash
# Run the app: start services, build the release binary, migrate, apply NATS config, then `pod up`.
# Any arguments are forwarded to `pod up`.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

# rustup installs cargo here; it may not be on PATH in a non-login shell.
if [ -d "$HOME/.cargo/bin" ]; then PATH="$HOME/.cargo/bin:$PATH"; fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "[run] ERROR: cargo not found. Install the Rust toolchain with rustup (https://rustup.rs), then re-run." >&2
  exit 1
fi

bash "$REPO/scripts/services.sh"

export DATABASE_URL="${DATABASE_URL:-postgres://pod:pod@127.0.0.1:5432/pod}"
export NATS_URL="${NATS_URL:-nats://127.0.0.1:${POD_NATS_PORT:-14222}}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pod-automator/target}"

echo "[run] cargo build --release --bin pod (target dir $CARGO_TARGET_DIR)"
cargo build --release --bin pod
POD="$CARGO_TARGET_DIR/release/pod"

echo "[run] pod migrate"
"$POD" migrate
echo "[run] pod nats apply"
"$POD" nats apply
echo "[run] pod up $*"
exec "$POD" up "$@"
