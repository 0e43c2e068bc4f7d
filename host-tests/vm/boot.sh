#!/usr/bin/env bash
# Host side of the VM harness, step 3: boot the guest under QEMU (TCG: no KVM needed) with the
# share $VMLAB/share mounted at /mnt/host (9p), run share/<script> in it, power off.
# usage: boot.sh SCRIPT [TIMEOUT_S]      env: VMLAB, VM_MEM (MiB, 4096: tgt's iSER wants a 1 GiB pool), VM_SMP (2), VM_IP
set -uo pipefail
VMLAB=${VMLAB:-/tmp/iser-vmlab}
S=${1:?usage: boot.sh SCRIPT [TIMEOUT_S]}
TMO=${2:-600}
MEM=${VM_MEM:-4096}; SMP=${VM_SMP:-2}; IP=${VM_IP:-10.0.2.15}
ACCEL="-accel tcg,thread=multi -cpu max"
[ "${VM_KVM:-0}" = 1 ] && [ -w /dev/kvm ] && ACCEL="-enable-kvm -cpu host"
mkdir -p "$VMLAB/share/results"
# -nodefaults/-serial stdio: the guest console is our stdout; user networking with
# restrict=on: the guest reaches nothing outside; rxe runs on this NIC.
exec timeout --foreground -k 10 "$TMO" qemu-system-x86_64 $ACCEL -m "$MEM" -smp "$SMP" \
  -nographic -no-reboot -nodefaults -serial stdio \
  -kernel "$VMLAB/out/vmlinuz" -initrd "$VMLAB/out/initrd.cpio" \
  -append "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=4 iservm.script=$S iservm.ip=$IP ${VM_APPEND:-}" \
  -netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0 \
  -virtfs local,path="$VMLAB/share",mount_tag=host,security_model=none,id=host
