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
timeout 90 iscsiadm -m node -T "$IQN" -p "$IP:3260" -I iser --login; result linux-iser-login $?
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

# ---- (b) libiscsi iser:// ----
timeout 60 iscsi-inq -i "$LINI" "iser://$IP:3260/$IQN/0" > /tmp/inq.out 2>&1
rc=$?; head -8 /tmp/inq.out; grep -q 'Peripheral Device Type' /tmp/inq.out || rc=${rc/#0/1}
result libiscsi-iser-inq $rc
timeout 60 iscsi-readcapacity16 -i "$LINI" "iser://$IP:3260/$IQN/0" > /tmp/rc16.out 2>&1
rc=$?; tail -3 /tmp/rc16.out; grep -q 'Total size:134217728' /tmp/rc16.out || rc=${rc/#0/1}
result libiscsi-iser-readcapacity16 $rc
note libiscsi

kill -0 $ISERD_PID 2>/dev/null; result iserd-still-running $?
kill -TERM $ISERD_PID; for i in $(seq 50); do kill -0 $ISERD_PID 2>/dev/null || break; sleep 0.1; done
! kill -0 $ISERD_PID 2>/dev/null; result iserd-clean-exit $?
iscsiadm -k 0 2>/dev/null
dmesg | grep -i -E 'iser|rxe' | tail -15
save_logs
grep -E 'WARN|ERROR' $RES/iserd.log | tail -20
note done
