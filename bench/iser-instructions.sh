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
for n in "$IOS" $((IOS * 2)); do
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$n" "$bin" "$n" >/dev/null 2>&1
  callgrind_annotate --inclusive=no --threshold=100 --auto=no "$out/cg.$n" 2>/dev/null > "$out/ann.$n"
done
core_ir() { # exclusive Ir of code in core/src or in iser_core functions (memcpy/memset excluded)
  awk '/^ *[0-9,]+ \(/ && (/ core\/src\// || /:iser_core::/) && !/PROGRAM TOTALS/ { gsub(",", "", $1); s += $1 } END { print s + 0 }' "$1"
}
total_ir() { awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }' "$1"; }
c1=$(core_ir "$out/ann.$IOS"); c2=$(core_ir "$out/ann.$((IOS * 2))")
t1=$(total_ir "$out/ann.$IOS"); t2=$(total_ir "$out/ann.$((IOS * 2))")
awk -v c1="$c1" -v c2="$c2" -v t1="$t1" -v t2="$t2" -v n="$IOS" 'BEGIN {
  printf "iser-core instructions per 4 KiB I/O (target engine, excluding memcpy): %.0f\n", (c2 - c1) / n
  printf "whole process instructions per I/O (scripted initiator, fabric, copies):  %.0f\n", (t2 - t1) / n
}'
