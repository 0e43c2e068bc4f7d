#!/usr/bin/env bash
# The side-by-side benchmark suite (issue 8): iserd and tgt serve equal 64 MiB file LUNs in
# /dev/shm on loopback; two initiators drive both in one invocation:
#   - our `iser bench` and libiscsi's `iscsi-perf`: 4 KiB random read at QD1, QD8 and QD32;
#   - `iser bench` alone (iscsi-perf only reads): 64 KiB and 1 MiB sequential read and write, QD8.
# Every figure is the median of RUNS runs of SECS seconds; the runs of each configuration are
# spread over the invocation (round r of every configuration before round r+1) so drift in the
# machine's load hits both targets alike; even rounds run the configurations in reverse order, so
# neither initiator always runs first. Latency percentiles and the CDF plot come from
# `iser bench --json` (a log-linear histogram of every I/O). CPU time per I/O of the target process
# (all its threads, /proc) and of the initiator (/usr/bin/time) is measured for every run: unlike
# IOPS, it hardly depends on how much of the shared machine the run got.
#
# Usage: RUNS=3 SECS=5 bench/run.sh [--write-doc]
#   Prints the tables. With --write-doc it also replaces the generated section of
#   docs/benchmarks.md and writes docs/img/bench-*.png (needs gnuplot: apt-get install gnuplot-nox).
#   OUT=DIR keeps the raw results (runs.tsv, medians.tsv, plot data) in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SECS=${SECS:-5}
PORT_TGT=${PORT_TGT:-3272}
CTL=${CTL:-72}
write_doc=0
[ "${1:-}" = "--write-doc" ] && write_doc=1

for tool in tgtd tgtadm iscsi-perf iscsi-readcapacity16 jq gnuplot /usr/bin/time; do
  command -v "$tool" >/dev/null || {
    echo "missing $tool: apt-get install tgt libiscsi-bin jq gnuplot-nox time" >&2
    exit 1
  }
done

. host-tests/peers/common.bash
(cd "$ROOT" && cargo build --release -q -p iser-initiator --bin iser)
ISER=$TARGET_DIR/release/iser

work=$(mktemp -d /dev/shm/iser-bench.XXXXXX)
out=${OUT:-$work/out}
mkdir -p "$out/cdf"
tgt_pid=
cleanup() {
  stop_iserd || true
  if [ -n "$tgt_pid" ]; then
    tgtadm -C "$CTL" --lld iscsi --op delete --mode target --tid 1 --force >/dev/null 2>&1 || true
    tgtadm -C "$CTL" --op delete --mode system >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do kill -0 "$tgt_pid" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$tgt_pid" 2>/dev/null || true
    wait "$tgt_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

truncate -s 64M "$work/iserd.img" "$work/tgt.img"
start_iserd "$work" --file-lun "$work/iserd.img" --log-level warn
declare -A URL
URL[iserd]="iscsi://$ADDR/$IQN/0"

TGT_IQN=iqn.2026-11.rs.iserd:tgt-bench
tgtd -f -C "$CTL" --iscsi "portal=127.0.0.1:$PORT_TGT" -t 2 >"$work/tgt.log" 2>&1 &
tgt_pid=$!
for _ in $(seq 1 50); do tgtadm -C "$CTL" --mode system --op show >/dev/null 2>&1 && break; sleep 0.1; done
tgtadm -C "$CTL" --lld iscsi --mode target --op new --tid 1 --targetname "$TGT_IQN"
tgtadm -C "$CTL" --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$work/tgt.img"
tgtadm -C "$CTL" --lld iscsi --mode target --op bind --tid 1 --initiator-address ALL
URL[tgt]="iscsi://127.0.0.1:$PORT_TGT/$TGT_IQN/1"

# iscsi-perf counts in logical blocks: 4 KiB in each target's own block length.
declare -A PERF_BLOCKS
for t in iserd tgt; do
  bl=$(iscsi-readcapacity16 "${URL[$t]}" | grep -io 'block length[^:]*: *[0-9]*' | grep -o '[0-9]*$' | head -n1) || bl=
  [ -n "$bl" ] || { echo "cannot read the block length of $t" >&2; exit 1; }
  echo "$t: logical block length $bl" >&2
  PERF_BLOCKS[$t]=$((4096 / bl))
done

# Configurations: workload|initiator|rw|bs|qd
CFGS=()
for qd in 1 8 32; do
  CFGS+=("4k-randread|iser|randread|4096|$qd" "4k-randread|iscsi-perf|randread|4096|$qd")
done
for bs in 64k:65536 1m:1048576; do
  for rw in read write; do
    CFGS+=("${bs%%:*}-$rw|iser|$rw|${bs#*:}|8")
  done
done

runs=$out/runs.tsv
printf 'target\tinitiator\tworkload\tqd\trun\tiops\tmb_per_s\tp50_us\tp99_us\tp99_9_us\tmax_us\ttarget_cpu_us_per_io\tinitiator_cpu_us_per_io\n' >"$runs"
failed=0
# ticks PID: CPU time of a process and all its threads so far, in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)
# one TARGET CFG RUN: one measurement, appended to runs.tsv (failed runs count as 0 IOPS).
one() {
  local t=$1 cfg=$2 r=$3 wl ini rw bs qd line pid c0 c1 ios cpu
  IFS='|' read -r wl ini rw bs qd <<<"$cfg"
  pid=$IserdPid
  [ "$t" = tgt ] && pid=$tgt_pid
  c0=$(ticks "$pid")
  : >"$work/time"
  if [ "$ini" = iser ]; then
    local json=$out/cdf/$t-$wl-qd$qd-r$r.json
    timeout $((SECS + 30)) /usr/bin/time -f '%U %S' -o "$work/time" "$ISER" bench "${URL[$t]}" --rw "$rw" --bs "$bs" --qd "$qd" \
      --time "${SECS}s" --json >"$json" 2>>"$work/iser.err" || true
    line=$(jq -r '[.iops, .mb_per_s, .lat_us.p50, .lat_us.p99, .lat_us.p99_9, .lat_us.max] | @tsv' \
      "$json" 2>/dev/null) || line=
  else
    local iops
    iops=$(timeout $((SECS + 30)) /usr/bin/time -f '%U %S' -o "$work/time" iscsi-perf -r -m "$qd" -b "${PERF_BLOCKS[$t]}" -t "$SECS" \
      "${URL[$t]}" 2>&1 | tr '\r' '\n' | sed -n 's/^iops average \([0-9]*\).*/\1/p' | tail -n1) || iops=
    [ -n "$iops" ] && line=$(awk -v i="$iops" -v b="$bs" 'BEGIN { printf "%s\t%.2f\t-\t-\t-\t-", i, i * b / 1e6 }')
  fi
  if [ -z "${line:-}" ]; then
    echo "run failed: $t $cfg (run $r)" >&2
    failed=$((failed + 1))
    line=$(printf '0\t0\t-\t-\t-\t-')
  fi
  c1=$(ticks "$pid")
  # I/Os: iser counts them; for iscsi-perf, its average IOPS over SECS.
  ios=$(jq -r '.ios' "${json:-/dev/null}" 2>/dev/null) || ios=
  [ -n "$ios" ] && [ "$ini" = iser ] || ios=$(awk -v i="${line%%$'\t'*}" -v s="$SECS" 'BEGIN { print i * s }')
  cpu=$(awk -v c0="$c0" -v c1="$c1" -v hz="$hz" -v n="$ios" -v tm="$(cat "$work/time" 2>/dev/null | tail -n1)" 'BEGIN {
      if (n + 0 <= 0) { printf "-\t-"; exit }
      split(tm, u, " ")
      printf "%.1f\t", (c1 - c0) / hz * 1e6 / n
      if (u[1] == "" || u[2] == "") printf "-"; else printf "%.1f", (u[1] + u[2]) * 1e6 / n
    }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$ini" "$wl" "$qd" "$r" "$line" "$cpu" >>"$runs"
}

start=$(date +%s)
load_start=$(cut -d' ' -f1 /proc/loadavg)
for r in $(seq 1 "$RUNS"); do
  order=("${CFGS[@]}")
  if [ $((r % 2)) = 0 ]; then
    order=()
    for ((i = ${#CFGS[@]} - 1; i >= 0; i--)); do order+=("${CFGS[$i]}"); done
  fi
  for cfg in "${order[@]}"; do
    for t in iserd tgt; do one "$t" "$cfg" "$r"; done
  done
  echo "round $r/$RUNS done after $(($(date +%s) - start)) s" >&2
done

load_end=$(cut -d' ' -f1 /proc/loadavg)
# medians.tsv: one row per target/initiator/workload/qd, the median of each column over the runs.
medians=$out/medians.tsv
awk -F'\t' 'NR > 1 {
    k = $1 FS $2 FS $3 FS $4
    if (!(k in n)) order[++keys] = k
    n[k]++
    for (c = 6; c <= 13; c++) v[k, c, n[k]] = $c
  }
  function med(k, c,    i, j, m, a, t) {
    m = n[k]
    for (i = 1; i <= m; i++) a[i] = v[k, c, i]
    if (a[1] == "-") return "-"
    for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return a[int((m + 1) / 2)]
  }
  END {
    for (i = 1; i <= keys; i++) {
      k = order[i]; line = k
      for (c = 6; c <= 13; c++) line = line FS med(k, c)
      print line
    }
  }' "$runs" >"$medians"

# get TARGET INITIATOR WORKLOAD QD COLUMN (iops mbps p50 p99 p999 max): a median.
get() {
  awk -F'\t' -v t="$1" -v i="$2" -v w="$3" -v q="$4" -v c="$5" '
    BEGIN { col["iops"] = 5; col["mbps"] = 6; col["p50"] = 7; col["p99"] = 8; col["p999"] = 9; col["max"] = 10; col["tcpu"] = 11; col["icpu"] = 12 }
    $1 == t && $2 == i && $3 == w && $4 == q { print $(col[c]); exit }' "$medians"
}
# Formatting: thousands separators, ratios.
num() { awk -v x="$1" 'BEGIN { if (x == "-" || x == "") { print "-"; exit } s = sprintf("%.0f", x); o = ""; while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) } print s o }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "-") printf "%.2f", a / b; else print "n/a" }'; }

t1="| 4 KiB random read | iserd · iser | tgt · iser | iserd / tgt (iser) | iserd · iscsi-perf | tgt · iscsi-perf | iserd / tgt (iscsi-perf) | iser / iscsi-perf on iserd | iser / iscsi-perf on tgt |
|---|---|---|---|---|---|---|---|---|"
for qd in 1 8 32; do
  a=$(get iserd iser 4k-randread "$qd" iops); b=$(get tgt iser 4k-randread "$qd" iops)
  c=$(get iserd iscsi-perf 4k-randread "$qd" iops); d=$(get tgt iscsi-perf 4k-randread "$qd" iops)
  t1+="
| QD$qd IOPS | $(num "$a") | $(num "$b") | $(ratio "$a" "$b") | $(num "$c") | $(num "$d") | $(ratio "$c" "$d") | $(ratio "$a" "$c") | $(ratio "$b" "$d") |"
done

t2="| sequential, QD8 (iser) | iserd MB/s | tgt MB/s | iserd / tgt | iserd IOPS | tgt IOPS |
|---|---|---|---|---|---|"
for wl in 64k-read 64k-write 1m-read 1m-write; do
  a=$(get iserd iser "$wl" 8 mbps); b=$(get tgt iser "$wl" 8 mbps)
  t2+="
| $wl | $(num "$a") | $(num "$b") | $(ratio "$a" "$b") | $(num "$(get iserd iser "$wl" 8 iops)") | $(num "$(get tgt iser "$wl" 8 iops)") |"
done

t3="| latency, µs (iser) | iserd p50 | iserd p99 | iserd p99.9 | tgt p50 | tgt p99 | tgt p99.9 | p50 iserd / tgt |
|---|---|---|---|---|---|---|---|"
for w in "4k-randread 1" "4k-randread 8" "4k-randread 32" "64k-read 8" "64k-write 8" "1m-read 8" "1m-write 8"; do
  set -- $w
  row="| $1 QD$2"
  for t in iserd tgt; do
    for c in p50 p99 p999; do row+=" | $(num "$(get "$t" iser "$1" "$2" "$c")")"; done
  done
  t3+="
$row | $(ratio "$(get iserd iser "$1" "$2" p50)" "$(get tgt iser "$1" "$2" p50)") |"
done

t4="| CPU per I/O, µs (4 KiB random read) | target, driven by iser | target, driven by iscsi-perf | iser | iscsi-perf |
|---|---|---|---|---|"
for t in iserd tgt; do
  for qd in 1 8 32; do
    t4+="
| $t QD$qd | $(get "$t" iser 4k-randread "$qd" tcpu) | $(get "$t" iscsi-perf 4k-randread "$qd" tcpu) | $(get "$t" iser 4k-randread "$qd" icpu) | $(get "$t" iscsi-perf 4k-randread "$qd" icpu) |"
  done
done

q32p=$(ratio "$(get iserd iscsi-perf 4k-randread 32 iops)" "$(get tgt iscsi-perf 4k-randread 32 iops)")
q32i=$(ratio "$(get iserd iser 4k-randread 32 iops)" "$(get tgt iser 4k-randread 32 iops)")
goal() { awk -v r="$1" -v g="$2" 'BEGIN { if (r == "n/a") print "no figure"; else if (r + 0 >= g) print "met"; else print "not met" }'; }
goals="- iserd ≥ 3× tgt IOPS at QD32 4 KiB random read: ${q32p}× with iscsi-perf ($(goal "$q32p" 3)), ${q32i}× with iser ($(goal "$q32i" 3))."
# rounds TARGET QD: iser / iscsi-perf IOPS of each round (the two ran within the same minute).
rounds() {
  awk -F'\t' -v t="$1" -v q="$2" '$1 == t && $3 == "4k-randread" && $4 == q { v[$2, $5] = $6; if ($5 > n) n = $5 }
    END { for (r = 1; r <= n; r++) printf "%s%s", (r > 1 ? ", " : ""), (v["iscsi-perf", r] > 0 ? sprintf("%.2f", v["iser", r] / v["iscsi-perf", r]) : "n/a") }' "$runs"
}
for qd in 1 8 32; do
  goals+="
- iser ≥ iscsi-perf, 4 KiB random read QD$qd:"
  for t in iserd tgt; do
    rt=$(ratio "$(get "$t" iser 4k-randread "$qd" iops)" "$(get "$t" iscsi-perf 4k-randread "$qd" iops)")
    goals+=" ${rt}× against $t ($(goal "$rt" 1); per round $(rounds "$t" "$qd"))"
    if [ "$t" = iserd ]; then goals+=","; fi
  done
  goals+="."
done

printf '%s\n\n%s\n\n%s\n\n%s\n\n%s\n' "$t1" "$t2" "$t3" "$t4" "$goals"
[ "$failed" = 0 ] || echo "$failed run(s) failed; they count as 0 (see $runs)" >&2

# Plot data and PNGs.
{
  echo "# qd iserd_iser tgt_iser iserd_iscsi-perf tgt_iscsi-perf (IOPS)"
  for qd in 1 8 32; do
    echo "$qd $(get iserd iser 4k-randread "$qd" iops) $(get tgt iser 4k-randread "$qd" iops) $(get iserd iscsi-perf 4k-randread "$qd" iops) $(get tgt iscsi-perf 4k-randread "$qd" iops)"
  done
} >"$out/iops-qd.dat"
{
  # Blocks for gnuplot's `index`: the full latency CDF (`iser bench --json`, log-linear
  # histogram buckets) of the run with the median IOPS, as latency (µs) against "nines"
  # (-log10(1 - p), capped at 4 = 99.99 %).
  for qd in 1 8 32; do
    for t in iserd tgt; do
      med=$(awk -F'\t' -v t="$t" -v q="$qd" '$1 == t && $2 == "iser" && $3 == "4k-randread" && $4 == q { print $6, $5 }' "$runs" \
        | sort -n | awk '{ a[NR] = $2 } END { if (NR) print a[int((NR + 1) / 2)] }')
      echo "# $t QD$qd (run ${med:-none})"
      f=$out/cdf/$t-4k-randread-qd$qd-r${med:-0}.json
      if [ -s "$f" ]; then
        jq -r '.cdf[] | "\(.[0]) \(.[1])"' "$f" 2>/dev/null \
          | awk '{ p = $2; y = (p >= 0.9999) ? 4 : -log(1 - p) / log(10); print $1, y }'
      else
        echo "1 0"
      fi
      printf '\n\n'
    done
  done
} >"$out/lat-cdf.dat"
{
  echo "# workload iserd_MBps tgt_MBps"
  for wl in 64k-read 64k-write 1m-read 1m-write; do
    echo "$wl $(get iserd iser "$wl" 8 mbps) $(get tgt iser "$wl" 8 mbps)"
  done
} >"$out/seq.dat"

img=$out
[ "$write_doc" = 1 ] && img=docs/img && mkdir -p "$img"
when="$(date -u +%Y-%m-%d), $(nproc) cores, RUNS=$RUNS, SECS=$SECS"
gnuplot <<EOF
set terminal pngcairo size 900,560 font "DejaVu Sans,11"
set grid
set key top left box opaque

set output "$img/bench-iops-qd.png"
set title "4 KiB random read on loopback: IOPS against queue depth (median of $RUNS × ${SECS} s)\n$when"
set xlabel "queue depth"
set ylabel "IOPS (thousands)"
set logscale x 2
set xtics ("1" 1, "8" 8, "32" 32)
set xrange [0.8:40]
set yrange [0:*]
plot "$out/iops-qd.dat" using 1:(\$2/1000) with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "iserd, iser bench", \
     "" using 1:(\$4/1000) with linespoints lw 2 pt 5 dt 2 lc rgb "#1f77b4" title "iserd, iscsi-perf", \
     "" using 1:(\$3/1000) with linespoints lw 2 pt 7 lc rgb "#d62728" title "tgt, iser bench", \
     "" using 1:(\$5/1000) with linespoints lw 2 pt 5 dt 2 lc rgb "#d62728" title "tgt, iscsi-perf"

set output "$img/bench-latency-cdf.png"
set title "4 KiB random read latency CDF (iser bench; the run with the median IOPS of $RUNS)\n$when"
set xlabel "latency (µs, log scale)"
set ylabel "percentile"
set logscale x 10
unset xrange
set autoscale x
set xtics auto
set yrange [0:4.2]
set ytics ("0%%" 0, "50%%" 0.30103, "90%%" 1, "99%%" 2, "99.9%%" 3, "99.99%%" 4)
set key bottom right box opaque
plot "$out/lat-cdf.dat" index 0 using 1:2 with steps lw 2 dt 3 lc rgb "#1f77b4" title "iserd QD1", \
     "" index 1 using 1:2 with steps lw 2 dt 3 lc rgb "#d62728" title "tgt QD1", \
     "" index 2 using 1:2 with steps lw 2 dt 2 lc rgb "#1f77b4" title "iserd QD8", \
     "" index 3 using 1:2 with steps lw 2 dt 2 lc rgb "#d62728" title "tgt QD8", \
     "" index 4 using 1:2 with steps lw 2 lc rgb "#1f77b4" title "iserd QD32", \
     "" index 5 using 1:2 with steps lw 2 lc rgb "#d62728" title "tgt QD32"

set output "$img/bench-seq.png"
set title "Sequential I/O at QD8 (iser bench): throughput (median of $RUNS × ${SECS} s)\n$when"
unset logscale x
set xtics auto
set ytics auto
set autoscale y
set yrange [0:*]
set xlabel ""
set ylabel "MB/s"
set key top left box opaque
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xrange [-0.6:3.6]
plot "$out/seq.dat" using 2:xtic(1) lc rgb "#1f77b4" title "iserd", \
     "" using 3 lc rgb "#d62728" title "tgt"
EOF

if [ "$write_doc" = 1 ]; then
  doc=docs/benchmarks.md
  gen=$work/generated.md
  {
    echo "<!-- BEGIN bench/run.sh: generated, do not edit by hand -->"
    echo "### Run of $when"
    echo
    echo "Command: \`RUNS=$RUNS SECS=$SECS bench/run.sh --write-doc\`. Medians of $RUNS runs of $SECS s;"
    echo "\`iser\` is our initiator (\`iser bench\`, one session), \`iscsi-perf\` is libiscsi's."
    echo "1-minute load average before the runs (other work on the machine): $load_start; after them (including"
    echo "the benchmark itself): $load_end. The spread between runs is in the raw runs below; even rounds"
    echo "run the configurations in reverse order."
    [ "$failed" = 0 ] || echo "**$failed run(s) failed and count as 0; see the raw runs below.**"
    echo
    echo "$t1"
    echo
    echo "![IOPS against queue depth](img/bench-iops-qd.png)"
    echo
    echo "$t2"
    echo
    echo "![sequential throughput](img/bench-seq.png)"
    echo
    echo "$t3"
    echo
    echo "![latency CDF](img/bench-latency-cdf.png)"
    echo
    echo "CPU time per I/O (medians; the target process with all its threads, and the initiator):"
    echo
    echo "$t4"
    echo
    echo "Goals (issue 8):"
    echo
    echo "$goals"
    echo
    echo "<details><summary>Raw runs</summary>"
    echo
    echo '```'
    column -t -s $'\t' "$runs"
    echo '```'
    echo
    echo "</details>"
    echo "<!-- END bench/run.sh -->"
  } >"$gen"
  if grep -q '^<!-- BEGIN bench/run.sh' "$doc"; then
    awk -v gen="$gen" '
      /^<!-- BEGIN bench\/run.sh/ { while ((getline l < gen) > 0) print l; skip = 1; next }
      /^<!-- END bench\/run.sh/ { skip = 0; next }
      !skip' "$doc" >"$doc.new"
  else
    { cat "$doc"; echo; cat "$gen"; } >"$doc.new"
  fi
  mv "$doc.new" "$doc"
  echo "wrote $doc and $img/bench-*.png" >&2
fi
