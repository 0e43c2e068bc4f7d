#!/usr/bin/env bash
# Real peer: libiscsi's tools and its conformance suite (iscsi-test-cu) against iserd over TCP on
# loopback. Time budget: ~3 minutes. Fails on any failed test or any "not implemented" skip.
set -euo pipefail
. "$(dirname "$0")/common.bash"

for tool in iscsi-ls iscsi-inq iscsi-readcapacity16 iscsi-test-cu; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install libiscsi-bin" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'stop_iserd || true; rm -rf "$work"' EXIT
# IPv6 on loopback when the machine has ::1 (some containers disable IPv6).
v6=()
grep -qs '^0\{31\}1 ' /proc/net/if_inet6 && v6=(--listen '[::1]:0')
start_iserd "$work" --ram-lun 64M "${v6[@]}"
url="iscsi://$ADDR/$IQN/0"
echo "iserd at $ADDR"

fail=0
check() { # name command...
  local name=$1; shift
  if "$@" >"$work/$name.log" 2>&1; then
    echo "PASS $name"
  else
    echo "FAIL $name"; sed 's/^/    /' "$work/$name.log" | tail -n 20; fail=1
  fi
}

check discovery bash -c "iscsi-ls -s iscsi://$ADDR | grep -q '$IQN'"
check inquiry bash -c "iscsi-inq '$url' | grep -q 'Peripheral Device Type'"
check readcapacity16 bash -c "iscsi-readcapacity16 '$url' | grep -q 'Total size:67108864'"
if [ -n "${ADDR6:-}" ]; then
  check ipv6 bash -c "iscsi-ls -s iscsi://$ADDR6 | grep -q '$IQN' && iscsi-inq 'iscsi://$ADDR6/$IQN/0' | grep -q DIRECT_ACCESS"
elif [ "${#v6[@]}" -gt 0 ]; then
  echo "FAIL ipv6: iserd did not report a [::1] portal"; fail=1
else
  echo "SKIP ipv6: this machine has no ::1"
fi

# Suites for the commands of the TCP target issue; more join as the SCSI layer grows.
SUITES=${SUITES:-"iSCSI SCSI.TestUnitReady SCSI.Inquiry SCSI.ReadCapacity10 SCSI.ReadCapacity16
  SCSI.ModeSense6 SCSI.Read6 SCSI.Read10 SCSI.Read12 SCSI.Read16 SCSI.Write10 SCSI.Write12
  SCSI.Write16 SCSI.Verify10 SCSI.Verify16 SCSI.Mandatory SCSI.NoMedia"}
for suite in $SUITES; do
  log="$work/cu-$suite.log"
  timeout 300 iscsi-test-cu -n -d -i "$INI1" -I "$INI2" -t "$suite" "$url" >"$log" 2>&1 || true
  failed=$(cu_failures "$log")
  missing=$(grep -c 'SKIPPED.*not implemented' "$log" || true)
  skipped=$(grep -c 'SKIPPED' "$log" || true)
  if [ "$failed" = "0" ] && [ "$missing" = "0" ]; then
    echo "PASS cu:$suite (skipped $skipped)"
  else
    echo "FAIL cu:$suite (failed $failed, not implemented $missing)"
    grep -E 'FAILED|Test: |SKIPPED|not implemented|CUnit - A unit testing|Suite .* had failures' "$log" \
      | grep -B1 -E 'FAILED|SKIPPED|failures' | sed 's/^/    /' | head -n 40
    fail=1
  fi
done

stop_iserd || { echo "FAIL iserd shutdown"; fail=1; }
exit $fail
