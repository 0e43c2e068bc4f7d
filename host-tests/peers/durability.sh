#!/usr/bin/env bash
# Durability under SIGKILL (issue 9): host-tests' `durability` tool writes random blocks to a file
# LUN of the release iserd with FUA or WRITE + SYNCHRONIZE CACHE, SIGKILLs the daemon (the PID it
# started) at a random moment, restarts it and checks every acknowledged write is there.
# First a self-check: with a block zeroed behind the daemon's back the tool must fail.
# DURABILITY_ROUNDS (default 50) sets the rounds. Time budget: 3 minutes (~1 s a round).
set -euo pipefail
. "$(dirname "$0")/common.bash"

rounds=${DURABILITY_ROUNDS:-50}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$ROOT" && cargo build --release -q -p iserd && cargo build -q -p host-tests --bin durability)
tool=$TARGET_DIR/debug/durability
iserd=$TARGET_DIR/release/iserd

if timeout 60 "$tool" --rounds 2 --iserd "$iserd" --dir "$work/self" --inject-loss >"$work/self.log" 2>&1; then
  cat "$work/self.log"
  echo "FAIL durability: the self-check did not see an injected loss"; exit 1
fi
grep -q "failures 2," "$work/self.log" || { cat "$work/self.log"; echo "FAIL durability: self-check"; exit 1; }
echo "PASS durability self-check: injected losses are reported"

if timeout 170 "$tool" --rounds "$rounds" --iserd "$iserd" --dir "$work/run"; then
  echo "PASS durability: $rounds SIGKILL rounds, nothing acknowledged was lost"
else
  echo "FAIL durability (iserd log: $work/run/iserd.log)"
  tail -n 20 "$work/run/iserd.log" 2>/dev/null || true
  exit 1
fi
