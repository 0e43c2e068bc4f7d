#!/usr/bin/env bash
# Two guests on one link, and Wireshark as an independent judge of our wire format (issue 6 d).
# Guest A (10.77.0.1) runs iserd with a file LUN; guest B (10.77.0.2) runs our initiator `iser`
# over iser:// and then the Linux kernel iSER initiator against it. The guests' NICs are joined
# by a QEMU socket link on 127.0.0.1, so soft-RoCE sends real RoCEv2 frames (UDP 4791) between
# them, and QEMU's filter-dump writes them to a pcap, which pcap-check.sh has tshark judge:
# iSER headers and iSCSI PDUs decoded and counted by opcode, nothing malformed.
# Needs the guest image (build-guest.sh) and the release binaries in $TWOVM_BIN; run.sh calls it
# (ISERVM_ONLY=twovm runs it alone). Prints PASS/FAIL lines, the counts, `N passed, M failed`.
# env: VMLAB, TWOVM_BIN ($VMLAB/share/bin), TWOVM_TIMEOUT (s per guest, 300), TWOVM_PORT (free
#      port on 127.0.0.1), ISERVM_LOG (iserd's log level, debug)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export VMLAB=${VMLAB:-/tmp/iser-vmlab}
BIN=${TWOVM_BIN:-$VMLAB/share/bin}
TMO=${TWOVM_TIMEOUT:-300}
W=$VMLAB/twovm
A=$W/a B=$W/b PCAP=$W/link.pcap
T0=$(date +%s)
took() { echo "$(( $(date +%s) - T0 ))s"; }
P=0 F=0
pass() { echo "PASS $*"; P=$((P + 1)); }
fail() { echo "FAIL $*"; F=$((F + 1)); }
finish() { echo "twovm: total $(took)"; echo "$P passed, $F failed"; [ "$F" = 0 ] && [ "$P" != 0 ]; exit; }

for b in iserd iser; do
  [ -x "$BIN/$b" ] || { fail "twovm-binaries ($BIN/$b missing: run host-tests/vm/run.sh)"; finish; }
done
if ! command -v tshark > /dev/null; then fail "twovm-tshark (not installed)"; finish; fi
rm -rf "$W"; mkdir -p "$A/bin" "$A/results" "$B/bin" "$B/results"
cp "$BIN/iserd" "$A/bin/"; cp "$BIN/iser" "$B/bin/"
cp "$HERE/guest/lib.sh" "$HERE/guest/twovm-target.sh" "$A/"
cp "$HERE/guest/lib.sh" "$HERE/guest/twovm-initiator.sh" "$B/"

listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
PORT=${TWOVM_PORT:-}
if [ -z "$PORT" ]; then
  for PORT in $(seq $((40000 + $$ % 1000)) 17 $((41000 + $$ % 1000))); do listening "$PORT" || break; done
fi

# Guest A listens on the link, guest B connects and dumps the link's traffic both ways.
VM_SHARE=$A VM_NET=listen:$PORT VM_IP=10.77.0.1 VM_MAC=52:54:00:77:00:01 VM_MEM=2048 VM_SMP=1 \
  VM_APPEND="iservm.peer=10.77.0.2 iservm.mib=16 iservm.log=${ISERVM_LOG:-debug}" \
  "$HERE/boot.sh" twovm-target.sh "$TMO" < /dev/null > "$A/results/console.log" 2>&1 &
APID=$!
for i in $(seq 50); do listening "$PORT" && break; sleep 0.2; done
VM_SHARE=$B VM_NET=connect:$PORT VM_IP=10.77.0.2 VM_MAC=52:54:00:77:00:02 VM_MEM=2048 VM_SMP=1 \
  VM_PCAP=$PCAP VM_PIDFILE=$W/b.pid VM_APPEND="iservm.peer=10.77.0.1" \
  "$HERE/boot.sh" twovm-initiator.sh "$TMO" < /dev/null > "$B/results/console.log" 2>&1 &
BPID=$!
echo "twovm: guests booting, link on 127.0.0.1:$PORT ($(took))"

# The host carries the two signals the guests need: A is serving (B may start), B is done (A
# checks its backing file against B's sums and stops).
while kill -0 $BPID 2>/dev/null; do
  [ -f "$A/results/ready" ] && [ ! -f "$B/peer-ready" ] && touch "$B/peer-ready"
  [ -f "$B/results/done" ] && break
  if ! kill -0 $APID 2>/dev/null; then   # A is gone: B has nobody to talk to
    echo "twovm: guest A ended early"; kill "$(cat "$W/b.pid" 2>/dev/null)" 2>/dev/null; break
  fi
  sleep 0.5
done
cp "$B/results/sums" "$A/stop.tmp" 2>/dev/null || : > "$A/stop.tmp"
mv "$A/stop.tmp" "$A/stop"
wait $BPID; brc=$?
wait $APID; arc=$?
echo "twovm: guests done, qemu rc A=$arc B=$brc ($(took))"

for g in A B; do
  c=$W/${g,,}/results/console.log
  while read -r verdict rest; do
    if [ "$verdict" = PASS ]; then pass "$rest"; else fail "$rest"; fi
  done < <(tr -d '\r' < "$c" | sed -n 's/^ISERVM-RESULT: //p')
  tr -d '\r' < "$c" | sed -n "s/^ISERVM-NOTE: /  $g: /p"
  if grep -q '^ISERVM: script exit=' "$c"; then pass "twovm-guest-${g,,}-finished"
  else fail "twovm-guest-${g,,}-finished (no script exit line: crash or timeout; console: $c)"; fi
done

# ---- Wireshark's view of the link ---------------------------------------------------------
while read -r verdict rest; do
  case "$verdict" in PASS) pass "twovm-$rest" ;; FAIL) fail "twovm-$rest" ;; *) echo "  $verdict $rest" ;; esac
done < <("$HERE/pcap-check.sh" "$PCAP")
if [ "$F" != 0 ]; then
  echo "--- logs: $A/results (console.log, iserd.log), $B/results (console.log, dmesg.log), $PCAP"
  grep -v '^ISERVM' "$A/results/console.log" | tail -15
  grep -v '^ISERVM' "$B/results/console.log" | tail -25
fi
finish
