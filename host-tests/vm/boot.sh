#!/usr/bin/env bash
# Host side of the VM harness, step 3: boot the guest under QEMU (TCG: no KVM needed) with the
# share $VMLAB/share mounted at /mnt/host (9p), run share/<script> in it, power off.
# usage: boot.sh SCRIPT [TIMEOUT_S]
# env: VMLAB, VM_MEM (MiB, 4096: tgt's iSER wants a 1 GiB pool), VM_SMP (2), VM_IP (10.0.2.15),
#      VM_APPEND (more kernel command line words), VM_SHARE (the 9p folder, $VMLAB/share),
#      VM_NET: user (default: QEMU user networking, restrict=on), listen:PORT or connect:PORT
#        (a point-to-point link to another guest over a socket on 127.0.0.1),
#      VM_MAC (52:54:00:12:34:56; two guests on one link need two), VM_PCAP (a pcap of the NIC's
#        traffic both ways, QEMU filter-dump), VM_PIDFILE (QEMU's pid file)
set -uo pipefail
VMLAB=${VMLAB:-/tmp/iser-vmlab}
S=${1:?usage: boot.sh SCRIPT [TIMEOUT_S]}
TMO=${2:-600}
MEM=${VM_MEM:-4096}; SMP=${VM_SMP:-2}; IP=${VM_IP:-10.0.2.15}
SHARE=${VM_SHARE:-$VMLAB/share}; NET=${VM_NET:-user}; MAC=${VM_MAC:-52:54:00:12:34:56}
ACCEL="-accel tcg,thread=multi -cpu max"
[ "${VM_KVM:-0}" = 1 ] && [ -w /dev/kvm ] && ACCEL="-enable-kvm -cpu host"
# User networking with restrict=on: the guest reaches nothing outside; rxe runs on this NIC.
# A socket link stays on loopback: the guests reach only each other.
case "$NET" in
  user) ND="user,id=n0,restrict=on" ;;
  listen:*) ND="socket,id=n0,listen=127.0.0.1:${NET#listen:}" ;;
  connect:*) ND="socket,id=n0,connect=127.0.0.1:${NET#connect:}" ;;
  *) echo "boot.sh: VM_NET=$NET: want user, listen:PORT or connect:PORT" >&2; exit 2 ;;
esac
DUMP=()
[ -n "${VM_PCAP:-}" ] && DUMP=(-object "filter-dump,id=d0,netdev=n0,file=$VM_PCAP")
PIDF=()
[ -n "${VM_PIDFILE:-}" ] && PIDF=(-pidfile "$VM_PIDFILE")
mkdir -p "$SHARE/results"
# -nodefaults/-serial stdio: the guest console is our stdout.
exec timeout --foreground -k 10 "$TMO" qemu-system-x86_64 $ACCEL -m "$MEM" -smp "$SMP" \
  -nographic -no-reboot -nodefaults -serial stdio \
  -kernel "$VMLAB/out/vmlinuz" -initrd "$VMLAB/out/initrd.cpio" \
  -append "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=4 iservm.script=$S iservm.ip=$IP ${VM_APPEND:-}" \
  -netdev "$ND" -device virtio-net-pci,netdev=n0,mac="$MAC" "${DUMP[@]}" "${PIDF[@]}" \
  -virtfs local,path="$SHARE",mount_tag=host,security_model=none,id=host
