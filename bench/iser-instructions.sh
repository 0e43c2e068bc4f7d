#!/usr/bin/env bash
# Instructions per I/O spent in iser-core by the iSER target engine (and, for comparison, in
# the whole process), counted by callgrind: instruction counts are repeatable whatever else the
# machine does. 4 KiB I/Os, half RDMA-Read writes, half RDMA-Write reads, over the in-memory
# fabric with a scripted initiator. Goal (issue 5): <= 1,500 core instructions per I/O at the
# target, excluding the data copy (memcpy/memmove are not counted as core functions).
set -euo pipefail
cd "$(dirname "$0")/.."
IOS=${IOS:-20000}
command -v valgrind >/dev/null || { echo "missing valgrind: apt-get install valgrind" >&2; exit 1; }
cargo build --release -q -p host-tests --bin iser_fabric_bench
bin=${CARGO_TARGET_DIR:-target}/release/iser_fabric_bench
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Two runs with different I/O counts: the difference removes login, setup and teardown.
# Only instructions inside the target engine's entry points (poll_ops, handle_event: the
# out-of-line wrappers in host-tests/src/iser_script.rs) are collected, so the scripted
# initiator's own PDU building and parsing does not count; memcpy/memset (the data copy into
# and out of the RAM disk and the registered buffers) are reported apart.
for n in "$IOS" $((IOS * 2)); do
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$n" \
    --toggle-collect='*target_poll_op*' --toggle-collect='*target_handle_event*' \
    "$bin" "$n" >/dev/null 2>&1
  callgrind_annotate --inclusive=no --threshold=100 --auto=no "$out/cg.$n" 2>/dev/null > "$out/ann.$n"
done
total_ir() { awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }' "$1"; }
copy_ir() { awk '/^ *[0-9,]+ \(/ && /mem(cpy|move|set)/ { gsub(",", "", $1); s += $1 } END { print s + 0 }' "$1"; }
t1=$(total_ir "$out/ann.$IOS"); t2=$(total_ir "$out/ann.$((IOS * 2))")
m1=$(copy_ir "$out/ann.$IOS"); m2=$(copy_ir "$out/ann.$((IOS * 2))")
awk -v t1="$t1" -v t2="$t2" -v m1="$m1" -v m2="$m2" -v n="$IOS" 'BEGIN {
  printf "target engine instructions per 4 KiB I/O, excluding the data copy: %.0f\n", ((t2 - m2) - (t1 - m1)) / n
  printf "of which memcpy/memset would add:                                   %.0f\n", (m2 - m1) / n
}'
if [ -n "${TOP:-}" ]; then
  echo "top functions (exclusive, ${IOS}x2 I/Os):"
  sed -n '/file:function/,$p' "$out/ann.$((IOS * 2))" | head -n "$((TOP + 2))" | tail -n "$TOP"
fi
