#!/usr/bin/env bash
# Stop the project's own nats-server (started by scripts/services.sh) via its pid file.
# Never touches PostgreSQL or any system nats-server (e.g. Debian's on port 4222).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${POD_TOOLS_DIR:-$REPO/.tools}"
PIDFILE="$TOOLS/nats.pid"

log() { printf '[services] %s\n' "$*"; }

if [ ! -f "$PIDFILE" ]; then
  log "no pid file $PIDFILE; nothing to stop"
  exit 0
fi
pid="$(tr -dc '0-9' <"$PIDFILE")"
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
  log "nats-server (pid ${pid:-?}) not running; removing stale pid file"
  rm -f "$PIDFILE"
  exit 0
fi
# Only stop it if it really is our nats-server binary.
exe="$(readlink -f "/proc/$pid/exe" 2>/dev/null || true)"
if [ "$exe" != "$(readlink -f "$TOOLS/venv/bin/nats-server")" ]; then
  log "pid $pid is not $TOOLS/venv/bin/nats-server (it is '${exe:-unknown}'); not stopping it"
  rm -f "$PIDFILE"
  exit 1
fi
log "stopping nats-server (pid $pid)"
kill -TERM "$pid"
for ((i = 0; i < 40; i++)); do
  kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; log "stopped"; exit 0; }
  sleep 0.25
done
log "nats-server (pid $pid) did not exit after 10s; sending SIGKILL"
kill -KILL "$pid" 2>/dev/null || true
rm -f "$PIDFILE"
log "stopped"
