# Shared helpers for the real-peer scripts: build and start iserd on an ephemeral loopback port,
# stop it by PID, and count libiscsi test results.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
IQN=iqn.2026-11.rs.iserd:peer
INI1=iqn.2026-11.rs.iserd:initiator1
INI2=iqn.2026-11.rs.iserd:initiator2

# start_iserd WORKDIR [iserd args...]: starts iserd on 127.0.0.1:0, sets IserdPid and ADDR.
start_iserd() {
  local work=$1; shift
  (cd "$ROOT" && cargo build --release -q -p iserd)
  : >"$work/iserd.out"
  : >"$work/iserd.log"
  "$TARGET_DIR/release/iserd" --listen 127.0.0.1:0 --target-name "$IQN" "$@" \
    >"$work/iserd.out" 2>"$work/iserd.log" &
  IserdPid=$!
  for _ in $(seq 1 100); do
    ADDR=$(sed -n 's/^listening on \([0-9.:]*\).*/\1/p' "$work/iserd.out" | head -n1)
    ADDR6=$(sed -n 's/^listening on \(\[[0-9a-f:]*\]:[0-9]*\).*/\1/p' "$work/iserd.out" | head -n1)
    [ -n "$ADDR" ] && return 0
    kill -0 "$IserdPid" 2>/dev/null || break
    sleep 0.1
  done
  echo "iserd did not start; its log:" >&2
  cat "$work/iserd.log" >&2
  return 1
}

stop_iserd() {
  [ -n "${IserdPid:-}" ] || return 0
  kill -TERM "$IserdPid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$IserdPid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$IserdPid" 2>/dev/null; then
    echo "iserd did not exit on SIGTERM" >&2
    kill -KILL "$IserdPid" 2>/dev/null || true
    IserdPid=
    return 1
  fi
  wait "$IserdPid"
  local rc=$?
  IserdPid=
  return $rc
}

# cu_failures LOG: number of failed tests in an iscsi-test-cu log (CUnit "Run Summary" tests row).
cu_failures() {
  awk '/^ *tests / {print $5; found=1} END {if (!found) print "none"}' "$1" | tail -n1
}
