#!/bin/bash
# Guest B of the two-VM run (host-tests/vm/two-vm.sh): our initiator `iser` over iser://, then
# the Linux kernel iSER initiator, against iserd on guest A (iservm.peer) across the link. Writes
# results/sums (`OFFSET_MIB MIB SHA256` of what it wrote) and results/done for the host.
. /mnt/host/lib.sh
PEER=$(arg iservm.peer)
ISER=/mnt/host/bin/iser
OINI=iqn.2026-11.rs.iserd:vm-ours
U="iser://$PEER:3260/$IQN/0"
: > $RES/sums

# Random data with every byte >= 0x40: Wireshark tries its iSER heuristic on each RDMA payload
# frame, and a data frame starting with 0x10..0x3f could pass for an iSER header there.
pattern() { head -c "$1" /dev/urandom | tr '\000-\077' '\100-\177'; }

check twovm-b-rdma-device rxe_up
for i in $(seq 120); do [ -f /mnt/host/peer-ready ] && break; sleep 1; done
[ -f /mnt/host/peer-ready ]; result twovm-b-peer-ready $?

# ---- our initiator: discover, ls, write 4 MiB at block 0, read 4 MiB back, compare ----
timeout 60 $ISER --initiator-name "$OINI" discover "iser://$PEER:3260" > /tmp/o-disc 2>&1
rc=$?; cat /tmp/o-disc; grep -q "^$IQN " /tmp/o-disc || rc=${rc/#0/1}
result twovm-b-ours-discover $rc
timeout 60 $ISER --initiator-name "$OINI" ls "$U" > /tmp/o-ls 2>&1
rc=$?; cat /tmp/o-ls; grep -q "LUN 0: " /tmp/o-ls || rc=${rc/#0/1}
result twovm-b-ours-ls $rc
pattern 4M > /tmp/o-pat
timeout 120 $ISER --initiator-name "$OINI" write /tmp/o-pat "$U" --bs 256k --qd 4 > /tmp/o-w 2>&1
rc=$?; tr '\r' '\n' < /tmp/o-w | grep . | tail -1; result twovm-b-ours-write-4MiB $rc
timeout 120 $ISER --initiator-name "$OINI" read "$U" /tmp/o-read --bs 256k --qd 4 > /tmp/o-r 2>&1
rc=$?; tr '\r' '\n' < /tmp/o-r | grep . | tail -1; result twovm-b-ours-read-lun $rc
check twovm-b-ours-read-matches-written cmp -n 4194304 /tmp/o-pat /tmp/o-read
echo "0 4 $(sha256sum < /tmp/o-pat | cut -d' ' -f1)" >> $RES/sums
rm -f /tmp/o-read

# ---- the Linux iSER initiator: discovery, login, 4 MiB written at 8 MiB, read back, logout ----
check twovm-b-iscsid start_iscsid
timeout 60 iscsiadm -m discovery -t st -p "$PEER:3260" -I iser > /tmp/disc.out 2>&1
rc=$?; cat /tmp/disc.out; grep -q "$IQN" /tmp/disc.out || rc=${rc/#0/1}
result twovm-b-linux-discovery $rc
iscsiadm -m node -T "$IQN" -p "$PEER:3260" -I iser > /dev/null 2>&1 ||
  iscsiadm -m node -o new -T "$IQN" -p "$PEER:3260" -I iser > /dev/null
for try in 1 2 3; do
  timeout 90 iscsiadm -m node -T "$IQN" -p "$PEER:3260" -I iser --login && break
  sleep 2
done
result twovm-b-linux-login $?
D=$(disk_of "$IQN"); result twovm-b-linux-disk $? "${D:-none}"
if [ -n "$D" ]; then
  pattern 4M > /tmp/l-pat
  timeout 120 dd if=/tmp/l-pat of=/dev/$D bs=256k seek=32 oflag=direct status=none
  result twovm-b-linux-write-4MiB $?
  echo 3 > /proc/sys/vm/drop_caches
  timeout 120 dd if=/dev/$D of=/tmp/l-read bs=256k skip=32 count=16 iflag=direct status=none
  result twovm-b-linux-read-4MiB $?
  check twovm-b-linux-read-matches-written cmp /tmp/l-pat /tmp/l-read
  echo "8 4 $(sha256sum < /tmp/l-pat | cut -d' ' -f1)" >> $RES/sums
fi
timeout 60 iscsiadm -m node -T "$IQN" -p "$PEER:3260" -I iser --logout; result twovm-b-linux-logout $?
iscsiadm -k 0 2>/dev/null
dmesg > $RES/dmesg.log
sync; touch $RES/done
note done
