#!/usr/bin/env bash
# Run the test suite: start services, build the binaries, then `cargo test --workspace`.
# Any arguments are forwarded to `cargo test` (e.g. scripts/test.sh -p pod-events -- --nocapture).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

# rustup installs cargo here; it may not be on PATH in a non-login shell (e.g. CI).
if [ -d "$HOME/.cargo/bin" ]; then PATH="$HOME/.cargo/bin:$PATH"; fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "[test] ERROR: cargo not found. Install the Rust toolchain with rustup (https://rustup.rs), then re-run." >&2
  exit 1
fi

bash "$REPO/scripts/services.sh"

export DATABASE_URL="${DATABASE_URL:-postgres://pod:pod@127.0.0.1:5432/pod}"
export NATS_URL="${NATS_URL:-nats://127.0.0.1:${POD_NATS_PORT:-14222}}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pod-automator/target}"

echo "[test] cargo build --bins (target dir $CARGO_TARGET_DIR)"
cargo build --bins
echo "[test] cargo test --workspace $*"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (the last binary alone may have none).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
