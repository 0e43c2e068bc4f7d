#!/usr/bin/env bash
# Side-by-side benchmark on loopback: iserd and tgt serve equal 64 MiB LUNs backed by files in
# /dev/shm; libiscsi's iscsi-perf drives both with 4 KiB random reads at QD1 and QD32 (and 64 KiB
# sequential reads at QD8). Each figure is the median of RUNS runs of SECS seconds, measured in
# the same invocation. Prints a Markdown table with ratios; `--write-doc` also records it in
# docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SECS=${SECS:-5}
PORT_TGT=${PORT_TGT:-3271}
CTL=${CTL:-71}
write_doc=0
[ "${1:-}" = "--write-doc" ] && write_doc=1

for tool in tgtd tgtadm iscsi-perf; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install tgt libiscsi-bin" >&2; exit 1; }
done

. host-tests/peers/common.bash
work=$(mktemp -d /dev/shm/iser-bench.XXXXXX)
tgt_pid=
cleanup() {
  stop_iserd || true
  if [ -n "$tgt_pid" ]; then
    tgtadm -C "$CTL" --lld iscsi --op delete --mode target --tid 1 --force >/dev/null 2>&1 || true
    tgtadm -C "$CTL" --op delete --mode system >/dev/null 2>&1 || true
    wait "$tgt_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

truncate -s 64M "$work/iserd.img" "$work/tgt.img"
start_iserd "$work" --file-lun "$work/iserd.img" --log-level warn
iserd_url="iscsi://$ADDR/$IQN/0"

TGT_IQN=iqn.2026-11.rs.iserd:tgt-bench
tgtd -f -C "$CTL" --iscsi "portal=127.0.0.1:$PORT_TGT" -t 2 >"$work/tgt.log" 2>&1 &
tgt_pid=$!
for _ in $(seq 1 50); do tgtadm -C "$CTL" --mode system --op show >/dev/null 2>&1 && break; sleep 0.1; done
tgtadm -C "$CTL" --lld iscsi --mode target --op new --tid 1 --targetname "$TGT_IQN"
tgtadm -C "$CTL" --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$work/tgt.img"
tgtadm -C "$CTL" --lld iscsi --mode target --op bind --tid 1 --initiator-address ALL
tgt_url="iscsi://127.0.0.1:$PORT_TGT/$TGT_IQN/1"

# perf URL ARGS...: one iscsi-perf run; prints its average IOPS.
perf() {
  local url=$1; shift
  timeout $((SECS + 20)) iscsi-perf "$@" -t "$SECS" "$url" 2>&1 | tr '\r' '\n' \
    | sed -n 's/^iops average \([0-9]*\).*/\1/p' | tail -n1
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : 0)}'; }

rows=()
for cfg in "4k-randread-qd1|-r -m 1 -b 8" "4k-randread-qd32|-r -m 32 -b 8" "64k-read-qd8|-m 8 -b 128"; do
  name=${cfg%%|*}; args=${cfg#*|}
  ours=(); theirs=()
  for _ in $(seq 1 "$RUNS"); do
    # shellcheck disable=SC2086
    ours+=("$(perf "$iserd_url" $args)")
    # shellcheck disable=SC2086
    theirs+=("$(perf "$tgt_url" $args)")
  done
  o=$(printf '%s\n' "${ours[@]}" | median)
  t=$(printf '%s\n' "${theirs[@]}" | median)
  ratio=$(awk -v o="$o" -v t="$t" 'BEGIN { if (t > 0) printf "%.2f", o / t; else print "n/a" }')
  rows+=("| $name | $o | $t | $ratio | ${ours[*]} | ${theirs[*]} |")
done

table=$(printf '%s\n' "| workload (iscsi-perf) | iserd IOPS (median) | tgt IOPS (median) | iserd / tgt | iserd runs | tgt runs |" "|---|---|---|---|---|---|" "${rows[@]}")
echo "$table"
if [ "$write_doc" = 1 ]; then
  {
    echo "## iSCSI/TCP on loopback: iserd vs tgt ($(date -u +%Y-%m-%d), $(nproc) cores)"
    echo
    echo "\`bench/tcp-vs-tgt.sh\` with RUNS=$RUNS, SECS=$SECS: equal 64 MiB file LUNs in /dev/shm, libiscsi"
    echo "iscsi-perf as the initiator for both targets, in one invocation. QD1 mean latency is 1/IOPS."
    echo
    echo "$table"
    echo
  } > docs/benchmarks-tcp.md.new
  mv docs/benchmarks-tcp.md.new docs/benchmarks-tcp.md
fi
