#!/bin/bash
# Guest A of the two-VM run (host-tests/vm/two-vm.sh): iserd with a file LUN on this guest's rxe
# device, for the initiators on guest B across the link. Announces itself with results/ready;
# when the host writes the stop file (the SHA-256 sums guest B expects at byte offsets of the
# LUN: `OFFSET_MIB MIB SUM` lines), compares its backing file with them and stops iserd.
. /mnt/host/lib.sh
MIB=$(arg iservm.mib); MIB=${MIB:-16}
LOG=$(arg iservm.log); LOG=${LOG:-debug}

check twovm-a-rdma-device rxe_up
truncate -s ${MIB}M /tmp/lun0.img
start_iserd --listen "$IP:3260" --target-name "$IQN" --file-lun /tmp/lun0.img --log-level "$LOG"
rc=$?; result twovm-a-iserd-listener $rc
# Without iserd, end here: the host sees this guest stop and stops guest B too.
[ $rc = 0 ] || { save_logs; exit 1; }
note "iserd up on $IP"
touch $RES/ready
for i in $(seq 900); do [ -f /mnt/host/stop ] && break; sleep 1; done
[ -f /mnt/host/stop ]; result twovm-a-stop-file $?
while read -r off len sum; do
  [ -n "$sum" ] || continue
  got=$(dd if=/tmp/lun0.img bs=1M skip="$off" count="$len" status=none | sha256sum | cut -d' ' -f1)
  [ "$got" = "$sum" ]; result "twovm-a-backing-file-matches@${off}MiB" $? "${got:0:16}"
done < /mnt/host/stop
kill -0 $ISERD_PID 2>/dev/null; result twovm-a-iserd-still-running $?
kill -TERM $ISERD_PID; for i in $(seq 50); do kill -0 $ISERD_PID 2>/dev/null || break; sleep 0.1; done
! kill -0 $ISERD_PID 2>/dev/null; result twovm-a-iserd-clean-exit $?
! grep -q 'still in use' /tmp/iserd.log; result twovm-a-teardown-returned-every-buffer $?
save_logs
grep -E 'WARN|ERROR' $RES/iserd.log | tail -10
note done
