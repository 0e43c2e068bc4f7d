#!/usr/bin/env bash
# Fuzz smoke: every cargo-fuzz target for FUZZ_SECS seconds (default 60, issue 9) from its
# checked-in corpus.
# Installs the nightly toolchain and cargo-fuzz when missing. Time budget: ~7 minutes cold.
set -euo pipefail
cd "$(dirname "$0")/../../fuzz"
SECS=${FUZZ_SECS:-60}
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install --locked -q cargo-fuzz
# Fuzz builds go to their own directory so they never invalidate the workspace's target dir.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target}/fuzz"
targets=$(cargo +nightly fuzz list)
# Every target the issues ask for must be there (iser_engine: both iSER engines, issue 9).
for t in bhs_parse iser_parse text_negotiate target_session iser_engine; do
  grep -qx "$t" <<<"$targets" || { echo "FAIL fuzz:$t is missing"; exit 1; }
done
for t in $targets; do
  mkdir -p "corpus/$t"
  # Work on a copy so the checked-in corpus stays as it is.
  work=$(mktemp -d)
  cp -r "corpus/$t/." "$work/"
  if cargo +nightly fuzz run -j1 "$t" "$work" -- -max_total_time="$SECS" > "$work.log" 2>&1; then
    echo "PASS fuzz:$t $(grep -o 'Done [0-9]* runs' "$work.log" | tail -n1)"
  else
    echo "FAIL fuzz:$t"; tail -n 40 "$work.log"; rm -rf "$work" "$work.log"; exit 1
  fi
  rm -rf "$work" "$work.log"
done
