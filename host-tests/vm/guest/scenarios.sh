#!/bin/bash
# Guest: iserd over soft-RoCE (rxe on the virtio NIC) against
#   (a) the Linux kernel iSER initiator: discovery, login, 64 MiB of random data written with
#       O_DIRECT, read back and compared, compared with the file LUN's backing file, logout;
#   (b) libiscsi's iser:// transport: iscsi-inq, iscsi-readcapacity16.
. /mnt/host/lib.sh
MIB=$(arg iservm.mib); MIB=${MIB:-64}
LOG=$(arg iservm.log); LOG=${LOG:-debug}

check rdma-device rxe_up
note "rxe up"
truncate -s 128M /tmp/lun0.img
check iserd-iser-listener start_iserd --listen "$IP:3260" --target-name "$IQN" \
  --file-lun /tmp/lun0.img --log-level "$LOG"
note "iserd up"

# ---- (a) Linux iSER initiator ----
check iscsid start_iscsid
timeout 60 iscsiadm -m discovery -t st -p "$IP:3260" -I iser > /tmp/disc.out 2>&1
rc=$?; cat /tmp/disc.out; grep -q "$IQN" /tmp/disc.out || rc=${rc/#0/1}
result linux-iser-discovery $rc
note discovery
# Without a discovery record, make the node by hand so the rest still runs.
iscsiadm -m node -T "$IQN" -p "$IP:3260" -I iser > /dev/null 2>&1 ||
  iscsiadm -m node -o new -T "$IQN" -p "$IP:3260" -I iser > /dev/null
# open-iscsi may answer "Login/Text in progress" (rc 8) right after discovery when the login
# takes two round trips; a login is retried like an administrator would (up to 3 tries).
iser_login() {
  local try
  for try in 1 2 3; do
    timeout 90 iscsiadm -m node -T "$IQN" -p "$IP:3260" -I iser --login && return 0
    sleep 2
  done
  return 1
}
iser_login; result linux-iser-login $?
note login
iscsiadm -m session -P1 2>/dev/null | grep -E 'Target:|Transport|Iface Name|State'
D=$(disk_of "$IQN"); result linux-iser-disk $? "${D:-none}, $(cat /sys/block/$D/size 2>/dev/null) sectors"
if [ -n "$D" ]; then
  head -c $((MIB << 20)) /dev/urandom > /tmp/pattern
  s=$(date +%s.%N)
  timeout 300 dd if=/tmp/pattern of=/dev/$D bs=1M oflag=direct > /tmp/dd-w.log 2>&1
  rc=$?; cat /tmp/dd-w.log; result linux-iser-write-${MIB}MiB $rc "$(dd_rate /tmp/dd-w.log)"
  echo 3 > /proc/sys/vm/drop_caches
  timeout 300 dd if=/dev/$D of=/tmp/readback bs=1M count=$MIB iflag=direct > /tmp/dd-r.log 2>&1
  rc=$?; cat /tmp/dd-r.log; result linux-iser-read-${MIB}MiB $rc "$(dd_rate /tmp/dd-r.log)"
  check linux-iser-readback-matches cmp /tmp/pattern /tmp/readback
  check linux-iser-backing-file-matches cmp -n $((MIB << 20)) /tmp/pattern /tmp/lun0.img
  rm -f /tmp/readback
fi
note "data checked"
timeout 60 iscsiadm -m node -T "$IQN" -p "$IP:3260" -I iser --logout; result linux-iser-logout $?
note logout

# ---- (a) again with 4 sessions at once: a quarter of the data through each, in parallel ----
iser_login > /dev/null
SID=$(iscsiadm -m session 2>/dev/null | awk -v t="$IQN" '$4==t{gsub(/[\[\]]/,"",$2); print $2; exit}')
# open-iscsi refuses a new session while its previous login is still settling ("Login/Text in
# progress", error 8) when a login takes two round trips; give each one a few tries.
for i in 2 3 4; do
  for try in 1 2 3; do
    timeout 90 iscsiadm -m session -r "$SID" --op new > /dev/null && break
    sleep 2
  done
done
DISKS=""
for i in $(seq 60); do
  DISKS=$(iscsiadm -m session -P3 2>/dev/null | awk '/Attached scsi disk/{print $4}' | sort)
  [ "$(echo "$DISKS" | grep -c .)" = 4 ] && break; sleep 1
done
N=$(echo "$DISKS" | grep -c .)
[ "$N" = 4 ]; result linux-iser-4-sessions $? "$(echo $DISKS)"
if [ "$N" = 4 ]; then
  Q=$((MIB / 4)); k=0; pids=""
  head -c $((MIB << 20)) /dev/urandom > /tmp/pattern4
  s=$(date +%s.%N)
  for d in $DISKS; do
    dd if=/tmp/pattern4 of=/dev/$d bs=1M skip=$((k * Q)) seek=$((k * Q)) count=$Q oflag=direct status=none &
    pids="$pids $!"; k=$((k + 1))
  done
  rc=0; for p in $pids; do wait $p || rc=1; done
  rate=$(awk -v a="$s" -v b="$(date +%s.%N)" -v m="$MIB" 'BEGIN{printf "%.1f MB/s", m*1.048576/(b-a)}')
  result linux-iser-4-sessions-write-${MIB}MiB $rc "$rate"
  echo 3 > /proc/sys/vm/drop_caches
  k=0; pids=""; s=$(date +%s.%N)
  for d in $DISKS; do
    dd if=/dev/$d of=/tmp/rb4.$k bs=1M skip=$((k * Q)) count=$Q iflag=direct status=none &
    pids="$pids $!"; k=$((k + 1))
  done
  rc=0; for p in $pids; do wait $p || rc=1; done
  rate=$(awk -v a="$s" -v b="$(date +%s.%N)" -v m="$MIB" 'BEGIN{printf "%.1f MB/s", m*1.048576/(b-a)}')
  result linux-iser-4-sessions-read-${MIB}MiB $rc "$rate"
  cat /tmp/rb4.0 /tmp/rb4.1 /tmp/rb4.2 /tmp/rb4.3 | cmp - /tmp/pattern4
  result linux-iser-4-sessions-readback-matches $?
  check linux-iser-4-sessions-backing-file-matches cmp -n $((MIB << 20)) /tmp/pattern4 /tmp/lun0.img
  rm -f /tmp/rb4.* /tmp/pattern4
fi
timeout 60 iscsiadm -m node -T "$IQN" -p "$IP:3260" -I iser --logout > /dev/null
result linux-iser-4-sessions-logout $?
note "4 sessions"

# ---- bad input: an RDMA CM peer that is not iSER (rping) ----
timeout 20 rping -c -a "$IP" -p 3260 -C 1 > /tmp/rping.out 2>&1
sleep 1
kill -0 $ISERD_PID 2>/dev/null; result iserd-survives-non-iser-peer $?

# ---- (b) libiscsi iser:// ----
timeout 60 iscsi-inq -i "$LINI" "iser://$IP:3260/$IQN/0" > /tmp/inq.out 2>&1
rc=$?; head -8 /tmp/inq.out; grep -q 'Peripheral Device Type' /tmp/inq.out || rc=${rc/#0/1}
result libiscsi-iser-inq $rc
timeout 60 iscsi-readcapacity16 -i "$LINI" "iser://$IP:3260/$IQN/0" > /tmp/rc16.out 2>&1
rc=$?; tail -3 /tmp/rc16.out; grep -q 'Total size:134217728' /tmp/rc16.out || rc=${rc/#0/1}
result libiscsi-iser-readcapacity16 $rc
note libiscsi

# libiscsi's synchronous conformance tests over iser:// (its *.Async tests crash in libiscsi's
# own iSER code, PEERS.md). SCSI.Inquiry is left out: over iser:// libiscsi sizes DATA-IN by the
# allocation length, so Inquiry.AllocLength and Inquiry.BlockLimits fail against tgt's iSER
# target too (checked in this guest); the suite passes over TCP (host-tests/peers/libiscsi.sh).
# Known failure, tracked in the issue notes: libiscsi's iser:// writes (SCSI.Write10.Simple) end
# with "iscsi_service failed: revents is not POLLIN" on its side after the first write; the
# Linux kernel initiator's writes above pass. It runs and is reported as XFAIL/XPASS, not counted.
KNOWN_FAIL="SCSI.Write10.Simple"
CU="SCSI.TestUnitReady SCSI.ReadCapacity10 SCSI.ReadCapacity16 SCSI.Read10.Simple
  SCSI.Read10.BeyondEol SCSI.Read10.ZeroBlocks SCSI.Read16.Simple SCSI.Write10.ZeroBlocks
  $KNOWN_FAIL"
for t in $CU; do
  timeout 40 iscsi-test-cu -n -d -i "$LINI" -t "$t" "iser://$IP:3260/$IQN/0" > /tmp/cu.log 2>&1
  sum=$(grep -A2 'Run Summary' /tmp/cu.log | awk '/tests/{print $3, $4, $5}')
  set -- $sum
  [ $# = 3 ] && [ "$3" = 0 ]; rc=$?
  if [ "$t" = "$KNOWN_FAIL" ]; then
    if [ $rc = 0 ]; then echo "ISERVM-NOTE: XPASS libiscsi-iser-cu:$t"; else echo "ISERVM-NOTE: XFAIL libiscsi-iser-cu:$t"; fi
  else
    result "libiscsi-iser-cu:$t" $rc "ran ${1:-?} passed ${2:-?} failed ${3:-?}"
  fi
  cat /tmp/cu.log >> $RES/test-cu.log
done
note "libiscsi test-cu"

kill -0 $ISERD_PID 2>/dev/null; result iserd-still-running $?
kill -TERM $ISERD_PID; for i in $(seq 50); do kill -0 $ISERD_PID 2>/dev/null || break; sleep 0.1; done
! kill -0 $ISERD_PID 2>/dev/null; result iserd-clean-exit $?
# Every connection's teardown handed every buffer and work request back.
! grep -q 'still in use' /tmp/iserd.log; result iserd-teardown-returned-every-buffer $?

# ---- busy-poll completion mode: one login, 8 MiB through it ----
ISERD_RDMA_POLL=busy start_iserd --listen "$IP:3260" --target-name "$IQN" \
  --file-lun /tmp/lun0.img --log-level info
rc=$?
if [ $rc = 0 ] && iser_login > /dev/null; then
  D=$(disk_of "$IQN")
  head -c 8388608 /dev/urandom > /tmp/p8
  dd if=/tmp/p8 of=/dev/$D bs=1M oflag=direct status=none &&
    dd if=/dev/$D of=/tmp/r8 bs=1M count=8 iflag=direct status=none && cmp /tmp/p8 /tmp/r8
  rc=$?
  timeout 60 iscsiadm -m node -T "$IQN" -p "$IP:3260" -I iser --logout > /dev/null || rc=1
fi
result iserd-busy-poll-8MiB $rc
kill -TERM $ISERD_PID; for i in $(seq 50); do kill -0 $ISERD_PID 2>/dev/null || break; sleep 0.1; done
iscsiadm -k 0 2>/dev/null
dmesg | grep -i -E 'iser|rxe' | tail -15
save_logs
grep -E 'WARN|ERROR' $RES/iserd.log | tail -20
note done
