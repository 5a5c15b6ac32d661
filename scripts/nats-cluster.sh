#!/usr/bin/env bash
# A 3-node JetStream cluster on loopback, the layout of deploy/nats/cluster.conf:
#   bash scripts/nats-cluster.sh start   # nodes n1..n3, clients on 14231-14233
#   bash scripts/nats-cluster.sh stop
# Then: NATS_URL=nats://127.0.0.1:14231,nats://127.0.0.1:14232,nats://127.0.0.1:14233 \
#       pod nats apply --replicas 3
# Uses the pinned nats-server that scripts/services.sh installs.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="${POD_TOOLS_DIR:-$ROOT/.tools}"
BIN="${POD_NATS_SERVER:-$TOOLS/venv/bin/nats-server}"
DIR="${POD_NATS_CLUSTER_DIR:-$TOOLS/nats-cluster}"

log() { echo "[nats-cluster] $*" >&2; }

start() {
  [ -x "$BIN" ] || { log "no nats-server at $BIN: run bash scripts/services.sh first"; exit 1; }
  mkdir -p "$DIR"
  for i in 1 2 3; do
    if [ -f "$DIR/n$i.pid" ] && kill -0 "$(cat "$DIR/n$i.pid")" 2>/dev/null; then
      log "n$i already running"; continue
    fi
    cat > "$DIR/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:1423$i
jetstream { store_dir: "$DIR/n$i" }
cluster {
  name: pod-local
  listen: 127.0.0.1:1623$i
  routes: [ nats-route://127.0.0.1:16231, nats-route://127.0.0.1:16232, nats-route://127.0.0.1:16233 ]
}
CONF
    "$BIN" -c "$DIR/n$i.conf" > "$DIR/n$i.log" 2>&1 &
    echo $! > "$DIR/n$i.pid"
    log "n$i started (client 127.0.0.1:1423$i, log $DIR/n$i.log)"
  done
  echo "NATS_URL=nats://127.0.0.1:14231,nats://127.0.0.1:14232,nats://127.0.0.1:14233"
}

stop() {
  for i in 1 2 3; do
    if [ -f "$DIR/n$i.pid" ]; then
      kill "$(cat "$DIR/n$i.pid")" 2>/dev/null || true
      rm -f "$DIR/n$i.pid"
      log "n$i stopped"
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
