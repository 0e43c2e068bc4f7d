# Sourced by the guest scenario scripts: results, timing, soft-RoCE, iscsid, disks.
T0=$(date +%s.%N)
RES=/mnt/host/results
mkdir -p $RES
IF=$(ls /sys/class/net | grep -v '^lo$' | head -1)
IP=$(ip -4 -o addr show dev "$IF" | awk '{split($4,a,"/"); print a[1]}')
IQN=iqn.2026-11.rs.iserd:vm
INI=iqn.2026-11.rs.iserd:vm-initiator
LINI=iqn.2026-11.rs.iserd:vm-libiscsi

# arg NAME: value of NAME=... on the kernel command line (the host passes options this way).
arg() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
note() { echo "ISERVM-NOTE: $* (t=$(elapsed)s)"; }
# result NAME RC [DETAIL]
result() {
  if [ "$2" = 0 ]; then echo "ISERVM-RESULT: PASS $1${3:+ ($3)}"
  else echo "ISERVM-RESULT: FAIL $1 (rc=$2${3:+, $3})"; fi
}
# check NAME CMD...: runs CMD, records its result
check() { local n=$1; shift; "$@"; result "$n" $?; }

rxe_up() {
  modprobe rdma_rxe && modprobe ib_uverbs && modprobe rdma_ucm || return 1
  rdma link show | grep -q rxe0 || rdma link add rxe0 type rxe netdev "$IF" || return 1
  ibv_devices | grep -q rxe0
}

start_iscsid() {
  # No udev in the guest: load the SCSI disk driver ourselves.
  modprobe ib_iser && modprobe sd_mod || return 1
  mkdir -p /run/lock/iscsi /etc/iscsi/nodes /etc/iscsi/send_targets
  # Fail fast instead of retrying for minutes: one discovery reopen, short login timeouts.
  sed -i 's/^node.session.initial_login_retry_max.*/node.session.initial_login_retry_max = 2/' \
    /etc/iscsi/iscsid.conf
  printf '%s\n' 'discovery.sendtargets.reopen_max = 1' \
    'discovery.sendtargets.timeo.login_timeout = 10' >> /etc/iscsi/iscsid.conf
  # Its own session: iscsid signals its whole process group on shutdown.
  setsid iscsid -f > /tmp/iscsid.log 2>&1 &
  sleep 1
}

# disk_of TARGET: the sd device of the session logged in to TARGET (waits for the SCSI scan).
disk_of() {
  local i d
  for i in $(seq 60); do
    d=$(iscsiadm -m session -P3 2>/dev/null | awk -v t="$1" '/^Target: /{cur=$2} cur==t && /Attached scsi disk/{print $4; exit}')
    [ -n "$d" ] && [ -b "/dev/$d" ] && { echo "$d"; return 0; }
    sleep 1
  done
  return 1
}

# start_iserd ARGS...: iserd from the share, its log in /tmp/iserd.log (tmpfs: a log on the 9p
# share would slow it down; save_logs copies it over); waits for its iSER listener.
start_iserd() {
  /mnt/host/bin/iserd "$@" > /tmp/iserd.out 2> /tmp/iserd.log &
  ISERD_PID=$!
  local i
  for i in $(seq 100); do
    grep -q 'listening on .*(iSER' /tmp/iserd.log && return 0
    kill -0 $ISERD_PID 2>/dev/null || break
    sleep 0.2
  done
  cat /tmp/iserd.log
  return 1
}
save_logs() { cp /tmp/iserd.log /tmp/iscsid.log $RES/ 2>/dev/null; dmesg > $RES/dmesg.log; }

# dd_rate LOG: the MB/s figure of dd's summary line.
dd_rate() { sed -n 's/.*copied, [0-9.]* s, \([0-9.]* [kMG]B\/s\).*/\1/p' "$1" | tail -1; }
