#!/usr/bin/env bash
# Soak (issue 9): host-tests' `soak` tool runs 64 sessions x QD 32 of 4 KiB random reads and
# writes against a RAM LUN of the release iserd on loopback; every block carries its LBA and a
# write generation and every read is checked against the last write; iserd's RSS is sampled
# every 5 s and must stay flat after the first quarter. SOAK_SECS sets the length (default 60;
# the full run is SOAK_SECS=600). Time budget: SOAK_SECS + 30 s.
set -euo pipefail
. "$(dirname "$0")/common.bash"

secs=${SOAK_SECS:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$ROOT" && cargo build --release -q -p iserd && cargo build -q -p host-tests --bin soak)
if timeout $((secs + 60)) "$TARGET_DIR/debug/soak" --secs "$secs" --sessions 64 --qd 32 \
    --iserd "$TARGET_DIR/release/iserd" --dir "$work/soak"; then
  echo "PASS soak: ${secs} s, every read verified, RSS flat"
else
  echo "FAIL soak (iserd log follows)"
  tail -n 20 "$work/soak/iserd.log" 2>/dev/null || true
  exit 1
fi
