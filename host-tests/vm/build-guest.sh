#!/usr/bin/env bash
# Host side of the VM harness, step 2: the guest, as one kernel + initramfs.
#   $VMLAB/kernel/          Debian's 6.1 kernel package, extracted (not installed on the host)
#   $VMLAB/rootfs.<hash>/   debootstrap minbase bookworm with the RDMA/iSCSI userland (cached;
#                           <hash> covers the package list, so changing it rebuilds)
#   $VMLAB/out/{vmlinuz,initrd.cpio}
# The initramfs holds a trimmed copy of the rootfs, the modules the scenarios need (with their
# dependencies, plus crypto/ and lib/ which rdma_rxe loads on demand) and guest/init.sh as /init.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VMLAB=${VMLAB:-/tmp/iser-vmlab}
mkdir -p "$VMLAB"/{debs,out}
cd "$VMLAB"
t0=$(date +%s)
MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

# Userland the scenarios use. iserd itself needs only libibverbs1 + librdmacm1 (+ the rxe
# provider in ibverbs-providers); the rest are the peers and the tools around them.
PKGS=kmod,iproute2,procps,rdma-core,ibverbs-providers,ibverbs-utils,rdmacm-utils,open-iscsi,libiscsi-bin,netbase,tgt
# Modules: soft-RoCE and the RDMA CM user interface, the Linux iSER initiator, LIO with its
# iSER target and file backstore, SCSI disks, the virtio NIC and 9p share.
MODULES="rdma_rxe ib_uverbs rdma_ucm ib_iser iscsi_tcp scsi_transport_iscsi sd_mod sg
  configfs target_core_mod target_core_file iscsi_target_mod ib_isert
  virtio_pci virtio_net 9p 9pnet_virtio crc32_generic crc32c_generic af_packet"

# --- kernel ---------------------------------------------------------------------------------
KPKG=${KPKG:-$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')}
[ -n "$KPKG" ] || { echo "build-guest: cannot find the kernel package (apt-cache depends linux-image-amd64)" >&2; exit 1; }
KVER=${KPKG#linux-image-}
if [ ! -f "kernel/boot/vmlinuz-$KVER" ]; then
  rm -rf kernel; mkdir -p kernel
  (cd debs && apt-get download "$KPKG")
  dpkg-deb -x debs/"${KPKG}"_*.deb kernel/
fi
echo "build-guest: kernel $KVER ($(( $(date +%s)-t0 ))s)"

# --- rootfs (cached) ------------------------------------------------------------------------
KEY=$(echo "$PKGS $MIRROR" | sha256sum | cut -c1-12)
BASE=rootfs.$KEY
if [ ! -f "$BASE/.done" ]; then
  rm -rf "$BASE"
  debootstrap --variant=minbase --include="$PKGS" bookworm "$BASE" "$MIRROR"
  touch "$BASE/.done"
fi
echo "build-guest: rootfs $BASE ($(( $(date +%s)-t0 ))s)"

# --- initramfs, rebuilt when any input changed ---------------------------------------------
STAMP=$(cat "$HERE/build-guest.sh" "$HERE/guest/init.sh" | sha256sum | cut -c1-12)-$KEY-$KVER
if [ -f out/initrd.cpio ] && [ "$(cat out/STAMP 2>/dev/null)" = "$STAMP" ]; then
  echo "build-guest: initramfs up to date"
  exit 0
fi
W=rootfs.work
rm -rf "$W"; cp -a "$BASE" "$W"
rm -rf "$W"/var/cache/apt/* "$W"/var/lib/apt/lists/* "$W"/usr/share/doc/* "$W"/usr/share/man/* \
  "$W"/usr/share/info/* "$W"/usr/share/locale/* "$W"/usr/share/zoneinfo/right
mkdir -p "$W/lib/modules"
cp -a "kernel/lib/modules/$KVER" "$W/lib/modules/"
chroot "$W" depmod -a "$KVER"
keep=$(for m in $MODULES; do chroot "$W" modprobe -S "$KVER" --show-depends "$m" 2>/dev/null; done \
  | awk '$1=="insmod"{print $2}' | sort -u)
find "$W/lib/modules/$KVER/kernel" -name '*.ko*' | sed "s|^$W||" | sort > mods.all
echo "$keep" | grep . | sort > mods.keep
comm -23 mods.all mods.keep | grep -v -E '/kernel/(crypto|arch/x86/crypto|lib)/' | sed "s|^|$W|" | xargs -r rm -f
find "$W/lib/modules/$KVER/kernel" -type d -empty -delete
chroot "$W" depmod -a "$KVER"
echo iser-vm > "$W/etc/hostname"
echo "InitiatorName=iqn.2026-11.rs.iserd:vm-initiator" > "$W/etc/iscsi/initiatorname.iscsi"
install -m 0755 "$HERE/guest/init.sh" "$W/init"
(cd "$W" && find . -print0 | cpio --null -o -H newc --quiet) > out/initrd.cpio.tmp
mv out/initrd.cpio.tmp out/initrd.cpio
cp "kernel/boot/vmlinuz-$KVER" out/vmlinuz
echo "$STAMP" > out/STAMP
rm -rf "$W"
echo "build-guest: initramfs $(du -h out/initrd.cpio | cut -f1), $(wc -l < mods.keep) modules ($(( $(date +%s)-t0 ))s)"
