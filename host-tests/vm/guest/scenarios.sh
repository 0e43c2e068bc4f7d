#!/bin/bash
# Guest: iserd over soft-RoCE (rxe on the virtio NIC) against
#   linux     the Linux kernel iSER initiator: discovery, login, 64 MiB of random data written
#             with O_DIRECT, read back and compared, compared with the file LUN's backing file,
#             logout; then 4 sessions at once;
#   linuxtcp  the Linux kernel iSCSI/TCP initiator (iscsi_tcp) on iserd's TCP listener: the same
#             data checks, then again with CRC32C header and data digests;
#   rping     an RDMA CM peer that is not iSER;
#   ours      our initiator `iser` over iser://: discover, ls, write, read, verify, compare with
#             the backing file, a short bench;
#   kill      our initiator SIGKILLed mid-write: iserd logs the connection's end, keeps running,
#             serves the next login;
#   bad       `iser-badpeer`: garbage CM private data, garbage messages, disconnects at every stage
#             of a login and a command, RDMA Read requests against invalid STags;
#   libiscsi  libiscsi's iser:// transport: iscsi-inq, iscsi-readcapacity16, iscsi-test-cu;
#   culoop    (opt-in) iscsi-test-cu over iser:// ISERVM_CULOOP times against iserd and tgt;
#   busypoll  iserd in busy-poll completion mode;
#   lio, tgt  our initiator over iser:// against LIO's isert and tgt's iSER target.
# iservm.only=a,b (kernel command line; ISERVM_ONLY on the host) runs only those groups.
. /mnt/host/lib.sh
MIB=$(arg iservm.mib); MIB=${MIB:-64}
LOG=$(arg iservm.log); LOG=${LOG:-debug}
ONLY=$(arg iservm.only)
TGTD_DEBUG=$(arg iservm.tgtdebug)
CULOOP=$(arg iservm.culoop)
# The synchronous iscsi-test-cu tests run over iser:// (s_libiscsi, cu_loop).
CU_TESTS="SCSI.TestUnitReady SCSI.ReadCapacity10 SCSI.ReadCapacity16 SCSI.Read10.Simple
  SCSI.Read10.BeyondEol SCSI.Read10.ZeroBlocks SCSI.Read16.Simple SCSI.Write10.ZeroBlocks"
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
ISER=/mnt/host/bin/iser
export ISER_LOG=$(arg iservm.iserlog)
OINI=iqn.2026-11.rs.iserd:vm-ours

check rdma-device rxe_up
note "rxe up"
truncate -s 128M /tmp/lun0.img
LINGER=$(arg iservm.linger)
[ "$LINGER" = default ] && LINGER=
check iserd-iser-listener start_iserd --listen "$IP:3260" --target-name "$IQN" \
  --file-lun /tmp/lun0.img --log-level "$LOG" ${LINGER:+--logout-linger $LINGER}
note "iserd up"

# node_login IFACE (iser, or default for iSCSI/TCP): open-iscsi may answer "Login/Text in
# progress" (rc 8) right after discovery when the login takes two round trips; a login is
# retried like an administrator would (up to 3 tries).
node_login() {
  local try
  for try in 1 2 3; do
    timeout 90 iscsiadm -m node -T "$IQN" -p "$IP:3260" -I "$1" --login && return 0
    sleep 2
  done
  return 1
}

# disk_roundtrip PREFIX DISK MIB: MIB of random data written to DISK with O_DIRECT, read back,
# compared with what was written and with the file LUN's backing file.
disk_roundtrip() {
  local p=$1 d=$2 mib=$3 rc
  head -c $((mib << 20)) /dev/urandom > /tmp/pattern
  timeout 300 dd if=/tmp/pattern of=/dev/$d bs=1M oflag=direct > /tmp/dd-w.log 2>&1
  rc=$?; cat /tmp/dd-w.log; result $p-write-${mib}MiB $rc "$(dd_rate /tmp/dd-w.log)"
  echo 3 > /proc/sys/vm/drop_caches
  timeout 300 dd if=/dev/$d of=/tmp/readback bs=1M count=$mib iflag=direct > /tmp/dd-r.log 2>&1
  rc=$?; cat /tmp/dd-r.log; result $p-read-${mib}MiB $rc "$(dd_rate /tmp/dd-r.log)"
  check $p-readback-matches cmp /tmp/pattern /tmp/readback
  check $p-backing-file-matches cmp -n $((mib << 20)) /tmp/pattern /tmp/lun0.img
  rm -f /tmp/pattern /tmp/readback
}

s_linux() {
# ---- (a) Linux iSER initiator ----
check iscsid start_iscsid
timeout 60 iscsiadm -m discovery -t st -p "$IP:3260" -I iser > /tmp/disc.out 2>&1
rc=$?; cat /tmp/disc.out; grep -q "$IQN" /tmp/disc.out || rc=${rc/#0/1}
result linux-iser-discovery $rc
note discovery
# Without a discovery record, make the node by hand so the rest still runs.
iscsiadm -m node -T "$IQN" -p "$IP:3260" -I iser > /dev/null 2>&1 ||
  iscsiadm -m node -o new -T "$IQN" -p "$IP:3260" -I iser > /dev/null
node_login iser; result linux-iser-login $?
note login
iscsiadm -m session -P1 2>/dev/null | grep -E 'Target:|Transport|Iface Name|State'
D=$(disk_of "$IQN"); result linux-iser-disk $? "${D:-none}, $(cat /sys/block/$D/size 2>/dev/null) sectors"
[ -n "$D" ] && disk_roundtrip linux-iser "$D" $MIB
note "data checked"
timeout 60 iscsiadm -m node -T "$IQN" -p "$IP:3260" -I iser --logout; result linux-iser-logout $?
note logout

# ---- (a) again with 4 sessions at once: a quarter of the data through each, in parallel ----
node_login iser > /dev/null
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

}

# ---- the Linux kernel iSCSI/TCP initiator (iscsi_tcp) against iserd's TCP listener on the same
# portal: discovery, login, MIB of random data written with O_DIRECT, read back, compared with
# what was written and with the backing file, logout; then once more with CRC32C header and data
# digests (RFC 7143 §13.1) on a quarter of the data.
linux_tcp_round() {
  local label=$1 mib=$2 digest=$3 d got
  node_login default > /dev/null; result $label-login $?
  got=$(iscsiadm -m session -P2 2>/dev/null | awk '/HeaderDigest:|DataDigest:/{printf "%s%s ", $1, $2}')
  [ "$got" = "HeaderDigest:$digest DataDigest:$digest " ]; result $label-digests $? "$got"
  d=$(disk_of "$IQN"); result $label-disk $? "${d:-none}"
  [ -n "$d" ] && disk_roundtrip $label "$d" $mib
  timeout 60 iscsiadm -m node -T "$IQN" -p "$IP:3260" -I default --logout > /dev/null
  result $label-logout $?
}
s_linuxtcp() {
  modprobe iscsi_tcp; result linux-tcp-module $?
  pgrep -x iscsid > /dev/null || start_iscsid
  timeout 60 iscsiadm -m discovery -t st -p "$IP:3260" -I default > /tmp/disc-tcp.out 2>&1
  rc=$?; grep -q "$IQN" /tmp/disc-tcp.out || rc=${rc/#0/1}
  result linux-tcp-discovery $rc
  iscsiadm -m node -T "$IQN" -p "$IP:3260" -I default > /dev/null 2>&1 ||
    iscsiadm -m node -o new -T "$IQN" -p "$IP:3260" -I default > /dev/null
  linux_tcp_round linux-tcp $MIB None
  local k
  for k in HeaderDigest DataDigest; do
    iscsiadm -m node -T "$IQN" -p "$IP:3260" -I default -o update \
      -n "node.conn[0].iscsi.$k" -v CRC32C > /dev/null
  done
  linux_tcp_round linux-tcp-crc32c $((MIB / 4)) CRC32C
}

s_rping() {
timeout 20 rping -c -a "$IP" -p 3260 -C 1 > /tmp/rping.out 2>&1
sleep 1
kill -0 $ISERD_PID 2>/dev/null; result iserd-survives-non-iser-peer $?
}

# ours_checks PREFIX PORTAL IQN LUN BACKING [SCHEME]: our initiator over SCHEME:// (iser, or
# iscsi for TCP) against one target.
ours_checks() {
  local p=$1 portal=$2 iqn=$3 lun=$4 backing=$5 scheme=${6:-iser} rc t0 u
  u="$scheme://$portal/$iqn/$lun"
  timeout 60 $ISER --initiator-name "$OINI" discover "$scheme://$portal" > /tmp/o-disc 2>&1
  rc=$?; cat /tmp/o-disc; grep -q "^$iqn " /tmp/o-disc || rc=${rc/#0/1}
  result $p-discover $rc
  timeout 60 $ISER --initiator-name "$OINI" ls "$u" > /tmp/o-ls 2>&1
  rc=$?; cat /tmp/o-ls; grep -q "LUN $lun: " /tmp/o-ls || rc=${rc/#0/1}
  result $p-ls $rc
  head -c 16M /dev/urandom > /tmp/o-pat
  t0=$(date +%s.%N)
  timeout 120 $ISER --initiator-name "$OINI" write /tmp/o-pat "$u" > /tmp/o-w 2>&1
  rc=$?; tail -1 /tmp/o-w | tr '\r' '\n' | tail -1
  result $p-write-16MiB $rc "$(rate "$t0" 16)"
  sync
  check $p-backing-file-matches cmp -n 16777216 /tmp/o-pat "$backing"
  t0=$(date +%s.%N)
  timeout 120 $ISER --initiator-name "$OINI" read "$u" /tmp/o-read > /tmp/o-r 2>&1
  rc=$?; tail -1 /tmp/o-r | tr '\r' '\n' | tail -1
  result $p-read-lun $rc "$(rate "$t0" $(( $(stat -c %s /tmp/o-read 2>/dev/null || echo 0) >> 20 )))"
  check $p-read-matches-written cmp -n 16777216 /tmp/o-pat /tmp/o-read
  check $p-read-matches-backing-file cmp /tmp/o-read "$backing"
  rm -f /tmp/o-read
  timeout 120 $ISER --initiator-name "$OINI" verify "$u" --size 8m > /tmp/o-v 2>&1
  rc=$?; cat /tmp/o-v; grep -q '^verify: OK' /tmp/o-v || rc=${rc/#0/1}
  result $p-verify-8MiB $rc
  timeout 60 $ISER --initiator-name "$OINI" bench "$u" --rw randread --bs 4k --qd 8 --time 3s \
    > /tmp/o-b 2>&1
  rc=$?; cat /tmp/o-b; result $p-bench-4k-randread-qd8 $rc "$(head -1 /tmp/o-b | cut -d: -f2)"
}
# rate T0 MIB: MB/s since T0.
rate() { awk -v a="$1" -v b="$(date +%s.%N)" -v m="$2" 'BEGIN{printf "%.1f MB/s", m*1.048576/(b-a)}'; }

s_ours() {
  ours_checks ours-iserd "$IP:3260" "$IQN" 0 /tmp/lun0.img
}

# Connection ends iserd logged so far.
conn_end_lines() { grep -E 'iSER [0-9.]+:[0-9]+: (peer disconnected|connection failed|connection closed|login failed|bad CM private data)' /tmp/iserd.log | sed 's/^[A-Z]* *[a-z_:]*: //'; }
conn_ends() { conn_end_lines | wc -l; }

s_kill() {
  local before pid rc i
  head -c 128M /dev/urandom > /tmp/big
  before=$(conn_ends)
  $ISER --initiator-name "$OINI" write /tmp/big "iser://$IP:3260/$IQN/0" > /tmp/kill.out 2>&1 &
  pid=$!
  for i in $(seq 40); do grep -q 'write: ' /tmp/kill.out && break; sleep 0.25; done
  kill -0 $pid 2>/dev/null; result ours-kill-write-under-way $? "$(tr '\r' '\n' < /tmp/kill.out | grep . | tail -1)"
  kill -KILL $pid; wait $pid 2>/dev/null
  rc=1
  for i in $(seq 50); do [ "$(conn_ends)" -gt "$before" ] && { rc=0; break; }; sleep 0.2; done
  result iserd-logs-killed-connection-end $rc "$(conn_end_lines | tail -1)"
  kill -0 $ISERD_PID 2>/dev/null; result iserd-survives-killed-initiator $?
  timeout 60 $ISER --initiator-name "$OINI" ls "iser://$IP:3260/$IQN/0" > /tmp/o-ls 2>&1
  rc=$?; grep -q "LUN 0: " /tmp/o-ls || rc=${rc/#0/1}
  result ours-login-after-kill $rc
  rm -f /tmp/big
}

# Each mode must end in iserd dropping the connection (or the peer leaving) with iserd alive.
s_bad() {
  local m rc before i alive
  for m in $(/mnt/host/bin/iser-badpeer --list); do
    before=$(conn_ends)
    timeout 120 /mnt/host/bin/iser-badpeer "$m" "$IP:3260" "$IQN" > /tmp/bad.out 2>&1
    rc=$?; cat /tmp/bad.out
    kill -0 $ISERD_PID 2>/dev/null; alive=$?
    [ $alive = 0 ] || rc=99
    result "iserd-survives-badpeer:$m" $rc "$(tail -1 /tmp/bad.out)"
    # iserd logs why each connection ended (a connection torn down before it was established
    # may never reach it).
    [ "$m" = exit-before-established ] && continue
    rc=1
    for i in $(seq 25); do [ "$(conn_ends)" -gt "$before" ] && { rc=0; break; }; sleep 0.2; done
    result "iserd-logs-connection-end:$m" $rc "$(conn_end_lines | tail -1)"
  done
  timeout 60 $ISER --initiator-name "$OINI" ls "iser://$IP:3260/$IQN/0" > /tmp/o-ls 2>&1
  rc=$?; grep -q "LUN 0: " /tmp/o-ls || rc=${rc/#0/1}
  result ours-login-after-bad-peers $rc
}

s_libiscsi() {
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
CU="$CU_TESTS $KNOWN_FAIL"
# libiscsi 1.19 writes the disconnect event of a connection it already freed into freed memory
# (README.md, culoop): iserd's default logout linger leaves the disconnect to its process exit.
for t in $CU; do
  timeout 40 iscsi-test-cu -n -d -i "$LINI" -t "$t" "iser://$IP:3260/$IQN/0" > /tmp/cu.log 2>&1
  cat /tmp/cu.log >> $RES/test-cu.log
  sum=$(grep -A2 'Run Summary' /tmp/cu.log | awk '/tests/{print $3, $4, $5}')
  set -- $sum
  [ $# = 3 ] && [ "$3" = 0 ]; rc=$?
  if [ "$t" = "$KNOWN_FAIL" ]; then
    if [ $rc = 0 ]; then echo "ISERVM-NOTE: XPASS libiscsi-iser-cu:$t"; else echo "ISERVM-NOTE: XFAIL libiscsi-iser-cu:$t"; fi
  else
    result "libiscsi-iser-cu:$t" $rc "ran ${1:-?} passed ${2:-?} failed ${3:-?}"
    [ $rc = 0 ] || grep -v -E '^\s*$|CUnit|cunit.sourceforge' /tmp/cu.log | tail -8 | sed 's/^/ISERVM-NOTE:   /'
  fi
done
note "libiscsi test-cu"
}

# LIO's iSER target (ib_isert), configured through configfs by hand (no targetcli in the guest).
LIQN=iqn.2026-11.rs.iserd:lio
LC=/sys/kernel/config/target
LT=$LC/iscsi/$LIQN/tpgt_1
# lio_up FILE: a 64 MiB fileio LUN 0 on FILE behind an iSER portal on $IP:3260.
lio_up() {
  local rc a
  modprobe configfs 2>/dev/null
  mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
  modprobe target_core_mod && modprobe target_core_file && modprobe iscsi_target_mod &&
    modprobe ib_isert || return 1
  truncate -s 64M "$1"
  mkdir -p $LC/core/fileio_0/d0 &&
    echo "fd_dev_name=$1,fd_dev_size=67108864" > $LC/core/fileio_0/d0/control &&
    echo 1 > $LC/core/fileio_0/d0/enable &&
    mkdir -p $LT/lun/lun_0 && ln -s $LC/core/fileio_0/d0 $LT/lun/lun_0/d0 &&
    mkdir $LT/np/$IP:3260 && echo 1 > $LT/np/$IP:3260/iser && mkdir $LT/np/$IP:3262
  rc=$?
  for a in "authentication 0" "generate_node_acls 1" "demo_mode_write_protect 0" \
    "cache_dynamic_acls 1"; do
    set -- $a; echo $2 > $LT/attrib/$1 || rc=1
  done
  echo 1 > $LT/enable || rc=1
  return $rc
}
lio_down() {
  echo 0 > $LT/enable; sleep 1
  rmdir $LT/np/$IP:3260 $LT/np/$IP:3262; rm -f $LT/lun/lun_0/d0; rmdir $LT/lun/lun_0 $LT $LC/iscsi/$LIQN
  rmdir $LC/core/fileio_0/d0 $LC/core/fileio_0 2>/dev/null
}

s_lio() {
  lio_up /tmp/lio.img
  rc=$?
  result lio-iser-target-configured $rc
  [ $rc = 0 ] && ours_checks ours-lio "$IP:3260" "$LIQN" 0 /tmp/lio.img
  # LIO's iSCSI/TCP portal of the same target (port 3262): our initiator over TCP.
  [ $rc = 0 ] && ours_checks ours-lio-tcp "$IP:3262" "$LIQN" 0 /tmp/lio.img iscsi
  lio_down
  rm -f /tmp/lio.img
}

# tgt's iSER target (tgtd with its iser driver).
TIQN=iqn.2026-11.rs.iserd:tgt
# tgt_up FILE IQN...: LUN 1 on FILE; the initiators named may log in.
tgt_up() {
  local f=$1 i q; shift
  truncate -s 64M "$f"
  setsid tgtd -f -d "${TGTD_DEBUG:-0}" > /tmp/tgtd.log 2>&1 &
  for i in $(seq 50); do tgtadm --mode system --op show > /dev/null 2>&1 && break; sleep 0.2; done
  # tgt 1.0.85 over iSER needs both an address ACL (-I ALL) and an initiator-name ACL (-Q IQN),
  # or discovery returns nothing and login fails with 0x0201 (PEERS.md).
  tgtadm --lld iser --mode target --op new --tid 1 -T $TIQN &&
    tgtadm --lld iser --mode logicalunit --op new --tid 1 --lun 1 -b "$f" &&
    tgtadm --lld iser --mode target --op bind --tid 1 -I ALL || return 1
  for q in "$@"; do tgtadm --lld iser --mode target --op bind --tid 1 -Q "$q" || return 1; done
}
tgt_down() {
  # tgtd once segfaulted when its target went right after an iSER logout: let it clean up.
  sleep 2
  tgtadm --lld iser --op delete --mode target --tid 1 --force > /dev/null 2>&1
  tgtadm --op delete --mode system > /dev/null 2>&1
  cp /tmp/tgtd.log $RES/ 2>/dev/null
}

# tgtd 1.0.85 has segfaulted during an iSER login under a loaded host (its bug, PEERS.md): when
# tgtd is gone after a failed attempt, the attempt is noted and the checks run once more on a
# fresh tgtd; only the last attempt's results count.
s_tgt() {
  local try alive
  for try in 1 2; do
    tgt_up /tmp/tgt.img "$OINI"
    rc=$?
    : > /tmp/tgt-try.out
    [ $rc = 0 ] && ours_checks ours-tgt "$IP:3260" "$TIQN" 1 /tmp/tgt.img > /tmp/tgt-try.out 2>&1
    pgrep -x tgtd > /dev/null; alive=$?
    tgt_down
    rm -f /tmp/tgt.img
    if [ $try = 1 ] && [ $alive != 0 ] && grep -q "ISERVM-RESULT: FAIL" /tmp/tgt-try.out; then
      echo "ISERVM-NOTE: tgtd died during our checks (tgt's crash, not ours); once more:"
      grep "ISERVM-RESULT: FAIL" /tmp/tgt-try.out | sed 's/^ISERVM-RESULT: /  first attempt: /'
      dmesg | grep -i "tgtd" | tail -3
      continue
    fi
    break
  done
  result tgt-iser-target-configured $rc
  cat /tmp/tgt-try.out
}

# The issue 6 benchmark: the Linux iSER initiator drives iserd, LIO and tgt, each with a 64 MiB
# file LUN in the guest's tmpfs: 4 KiB random read (QD16) and 1 MiB sequential read and write
# (QD4), ISERVM_BENCH_RUNS runs of ISERVM_BENCH_SECS seconds each (iser-blkbench: O_DIRECT, one
# thread per I/O in flight; the guest has no fio). iserd (port 3261), other iserd binaries to
# compare (host run.sh ISERVM_BENCH_OTHERS, ports 3262 on) and LIO (3260) are logged in at once
# and take turns test by test, so a slow spell of the shared host hits them alike; tgt (which
# wants 3260 too) runs after them. Lines: ISERVM-BENCH: target test run figures, then the whole
# guest's busy CPU per I/O (and for iserd its own process's user+system CPU and system calls per
# I/O). Opt-in (ISERVM_ONLY=bench): a few
# minutes.
# guest_busy: busy CPU time of the whole guest so far (user, nice, system, irq, softirq; ticks).
guest_busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
# proc_stats PID: user ticks, system ticks, read-type and write-type system calls of process PID
# so far (/proc/PID/stat and io; zeros without one).
proc_stats() {
  [ -n "$1" ] && [ -r /proc/$1/io ] || { echo 0 0 0 0; return; }
  echo "$(awk '{print $14, $15}' /proc/$1/stat) $(awk '/^sysc[rw]:/{printf "%s ", $2}' /proc/$1/io)"
}
# proc_per_io BEFORE AFTER BLKBENCH-OUTPUT: process PID's CPU (user+system ms) and system calls
# (read+write type) per I/O between two proc_stats.
proc_per_io() {
  local n hz
  n=$(echo "$3" | sed -n 's/.*(\([0-9]*\) I\/Os.*/\1/p'); hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
  echo "$1 $2" | awk -v n="${n:-0}" -v hz="$hz" '{ if (n > 0) printf "iserd %.2f+%.2f ms/IO, %.2f+%.2f syscalls/IO", ($5 - $1) * 1000 / hz / n, ($6 - $2) * 1000 / hz / n, ($7 - $3) / n, ($8 - $4) / n }'
}
# per_io NAME BUSY-BEFORE BUSY-NOW BLKBENCH-OUTPUT: CPU ticks spent per I/O, in ms.
per_io() {
  local n hz
  n=$(echo "$4" | sed -n 's/.*(\([0-9]*\) I\/Os.*/\1/p'); hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
  awk -v a="$2" -v b="$3" -v n="${n:-0}" -v hz="$hz" -v name="$1" \
    'BEGIN { if (n > 0) printf "%s %.2f ms/IO", name, (b - a) * 1000 / hz / n }'
}
# bench_login LABEL TARGET-IQN PORT: logs in; BDISK_<LABEL> is its disk.
bench_login() {
  local r d
  timeout 60 iscsiadm -m discovery -t st -p "$IP:$3" -I iser > /dev/null 2>&1
  iscsiadm -m node -T "$2" -p "$IP:$3" -I iser > /dev/null 2>&1 ||
    iscsiadm -m node -o new -T "$2" -p "$IP:$3" -I iser > /dev/null
  for r in 1 2 3; do timeout 90 iscsiadm -m node -T "$2" -p "$IP:$3" -I iser --login > /dev/null && break; sleep 2; done
  d=$(disk_of "$2")
  result bench-$1-login $? "${d:-no disk}"
  eval "BDISK_$1=$d"
}
bench_logout() {  # TARGET-IQN PORT
  timeout 60 iscsiadm -m node -T "$1" -p "$IP:$2" -I iser --logout > /dev/null
  iscsiadm -m node -o delete -T "$1" > /dev/null 2>&1
}
# bench_runs LABEL...: every run, every test, each target in turn (LABEL=PID of its process, or
# LABEL alone).
bench_runs() {
  local r t lp label pid d g0 p0 out
  for r in $(seq "$BRUNS"); do
    for t in "randread 4k 16" "read 1m 4" "write 1m 4"; do
      for lp in "$@"; do
        label=${lp%%=*}; pid=; [ "$lp" != "$label" ] && pid=${lp#*=}
        d=$(eval "echo \$BDISK_$label"); [ -n "$d" ] || continue
        set -- $t "$@"
        g0=$(guest_busy); p0=$(proc_stats "$pid")
        out=$(/mnt/host/bin/iser-blkbench /dev/$d --rw $1 --bs $2 --qd $3 --time ${BSECS}s 2>&1)
        echo "ISERVM-BENCH: $label $1-$2-qd$3 run$r $out $(per_io cpu "$g0" "$(guest_busy)" "$out")${pid:+, $(proc_per_io "$p0" "$(proc_stats "$pid")" "$out")}"
        shift 3
      done
    done
  done
}
# bench_iserd LABEL BINARY PORT TARGET-IQN: starts it (pid in BPID_<LABEL>) with a 64 MiB LUN.
bench_iserd() {
  truncate -s 64M /tmp/b-$1.img
  $2 --listen "$IP:$3" --target-name "$4" --file-lun /tmp/b-$1.img \
    --log-level warn < /dev/null > /tmp/iserd-$1.out 2> /tmp/iserd-$1.log &
  eval "BPID_$1=$!"
  # At warn level only stdout says "listening on" (after every portal is bound).
  for i in $(seq 100); do grep -q 'listening on' /tmp/iserd-$1.out && break; sleep 0.2; done
}
s_bench() {
  local labels pid i f l port others
  BRUNS=$(arg iservm.benchruns); BRUNS=${BRUNS:-3}
  BSECS=$(arg iservm.benchsecs); BSECS=${BSECS:-8}
  pgrep -x iscsid > /dev/null || start_iscsid
  bench_iserd iserd /mnt/host/bin/iserd 3261 "$IQN" && bench_login iserd "$IQN" 3261
  labels="iserd=$BPID_iserd"
  # Other iserd binaries (host run.sh ISERVM_BENCH_OTHERS): ports 3262 on, targets IQN-LABEL.
  port=3261; others=
  for f in /mnt/host/bin/iserd-*; do
    [ -x "$f" ] || continue
    l=${f##*/iserd-}; port=$((port + 1))
    bench_iserd "$l" "$f" $port "$IQN-$l" && bench_login "$l" "$IQN-$l" $port &&
      labels="$labels $l=$(eval "echo \$BPID_$l")" && others="$others $l:$port"
  done
  lio_up /tmp/b-lio.img && bench_login lio "$LIQN" 3260 && labels="$labels lio"
  bench_runs $labels
  bench_logout "$IQN" 3261
  for l in $others; do bench_logout "$IQN-${l%%:*}" ${l#*:}; done
  bench_logout "$LIQN" 3260
  for l in $labels; do
    pid=${l#*=}; [ "$pid" != "$l" ] || continue
    kill -TERM $pid; for i in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  done
  lio_down
  # tgt allocates a 1 GiB pool at its first iSER login: free the other LUNs' memory first.
  rm -f /tmp/b-*.img
  tgt_up /tmp/b-tgt.img "$INI" && bench_login tgt "$TIQN" 3260 && bench_runs tgt
  bench_logout "$TIQN" 3260
  tgt_down
  rm -f /tmp/b-*.img
}

# Opt-in diagnostic (ISERVM_ONLY=culoop): libiscsi's iscsi-test-cu over iser:// run many times
# (ISERVM_CULOOP runs, 40; the tests of s_libiscsi in turn) against one target, counting clean
# runs, runs that crashed inside libiscsi (glibc heap checks) and runs that ended any other way. A failed run leaves its log, the
# tail of iserd's log and (four at most) its core dump in $RES. iservm.cutests=A:B picks the tests,
# iservm.cuenv=VAR=V:... sets iscsi-test-cu's environment.
cu_loop() {
  local label=$1 url=$2 n=${CULOOP:-40} i t ok=0 heap=0 other=0 cores=0 tests
  # What glibc prints when its heap checks abort a process.
  local abort='corrupted|double free|free\(\)|malloc\(\)|malloc_consolidate'
  local ct=$(arg iservm.cutests) ce=$(arg iservm.cuenv) envs=()
  read -r -a tests <<< "$(echo $CU_TESTS)"
  [ "$ct" != default ] && [ -n "$ct" ] && IFS=: read -r -a tests <<< "$ct"
  [ "$ce" != none ] && [ -n "$ce" ] && IFS=: read -r -a envs <<< "$ce"
  ulimit -c unlimited; echo "/tmp/core.%p" > /proc/sys/kernel/core_pattern
  for i in $(seq $n); do
    t=${tests[$((i % ${#tests[@]}))]}
    rm -f /tmp/core.*
    env "${envs[@]}" timeout 40 iscsi-test-cu -n -d -i "$LINI" -t "$t" "$url" > /tmp/cul.log 2>&1
    if grep -q 'Run Summary' /tmp/cul.log; then ok=$((ok + 1)); continue; fi
    if grep -q -E "$abort" /tmp/cul.log; then heap=$((heap + 1))
      grep -m1 -E "$abort" /tmp/cul.log | sed "s/^/ISERVM-NOTE: culoop $label heap: run $i $t /"
    else other=$((other + 1)); tail -3 /tmp/cul.log | sed "s/^/ISERVM-NOTE: culoop $label other: run $i $t /"; fi
    cp /tmp/cul.log $RES/cul-$label-$i.log
    tail -60 /tmp/iserd.log > $RES/iserd-tail-$label-$i.log 2>/dev/null
    if [ $cores -lt 4 ] && ls /tmp/core.* > /dev/null 2>&1; then
      cores=$((cores + 1)); mv /tmp/core.* $RES/core-$label-$i
    fi
  done
  rm -f /tmp/core.*
  echo "ISERVM-NOTE: culoop $label: $n runs, $ok clean, $heap heap crashes, $other other"
}

want linux && s_linux
want linuxtcp && { s_linuxtcp; note "Linux iSCSI/TCP"; }
want rping && s_rping
want ours && { s_ours; note "ours against iserd"; }
want kill && { s_kill; note "kill mid-write"; }
want bad && { s_bad; note "bad peers"; }
want libiscsi && s_libiscsi
[[ ",$ONLY," == *",culoop,"* ]] && cu_loop iserd "iser://$IP:3260/$IQN/0"

kill -0 $ISERD_PID 2>/dev/null; result iserd-still-running $?
kill -TERM $ISERD_PID; for i in $(seq 50); do kill -0 $ISERD_PID 2>/dev/null || break; sleep 0.1; done
! kill -0 $ISERD_PID 2>/dev/null; result iserd-clean-exit $?
# Every connection's teardown handed every buffer and work request back.
! grep -q 'still in use' /tmp/iserd.log; result iserd-teardown-returned-every-buffer $?
# After a Logout iserd leaves the disconnect to the initiator (limits.logout_linger): every
# initiator above disconnects well within it (libiscsi's tools when their process exits).
if [ -z "$LINGER" ] && [[ $LOG == debug || $LOG == trace ]] && { want linux || want ours || want libiscsi; }; then
  n=$(grep -c 'logged out; the initiator has' /tmp/iserd.log)
  m=$(grep -c 'before its time was up' /tmp/iserd.log)
  [ "$n" -gt 0 ] && [ "$n" = "$m" ]
  result iserd-initiators-disconnect-after-logout $? "$m of $n logged-out connections"
fi

s_busypoll() {
cp /tmp/iserd.log $RES/iserd-main.log
ISERD_RDMA_POLL=busy start_iserd --listen "$IP:3260" --target-name "$IQN" \
  --file-lun /tmp/lun0.img --log-level info
rc=$?
if [ $rc = 0 ] && node_login iser > /dev/null; then
  D=$(disk_of "$IQN")
  head -c 8388608 /dev/urandom > /tmp/p8
  dd if=/tmp/p8 of=/dev/$D bs=1M oflag=direct status=none &&
    dd if=/dev/$D of=/tmp/r8 bs=1M count=8 iflag=direct status=none && cmp /tmp/p8 /tmp/r8
  rc=$?
  timeout 60 iscsiadm -m node -T "$IQN" -p "$IP:3260" -I iser --logout > /dev/null || rc=1
fi
result iserd-busy-poll-8MiB $rc
kill -TERM $ISERD_PID; for i in $(seq 50); do kill -0 $ISERD_PID 2>/dev/null || break; sleep 0.1; done
}
want busypoll && s_busypoll
want lio && { s_lio; note "LIO"; }
want tgt && { s_tgt; note "tgt"; }
if [[ ",$ONLY," == *",culoop,"* ]] && [ "$(arg iservm.cutgt)" != 0 ]; then
  tgt_up /tmp/tgt.img "$LINI" && cu_loop tgt "iser://$IP:3260/$TIQN/1"
  tgt_down; rm -f /tmp/tgt.img
fi
# Opt-in only: not part of the default (CI) run.
[[ ",$ONLY," == *",bench,"* ]] && { s_bench; note "bench"; }
iscsiadm -k 0 2>/dev/null
dmesg | grep -i -E 'iser|rxe' | tail -15
save_logs
grep -E 'WARN|ERROR' $RES/iserd.log | tail -20
note done
