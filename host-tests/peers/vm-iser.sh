#!/usr/bin/env bash
# Real peers over real RDMA: iserd on soft-RoCE in a QEMU guest (Debian 6.1 kernel, rdma_rxe)
# against the Linux kernel iSER and iSCSI/TCP initiators and libiscsi's iser:// transport, then
# two guests on one link with tshark judging the captured RoCEv2 frames (host-tests/vm/).
# Installs what it needs (QEMU from bookworm-backports, debootstrap, cpio, tshark); the guest
# image is cached under $VMLAB (default /tmp/iser-vmlab). Time budget: ~4 min warm, ~5 min cold.
# SKIPs (exit 0) only where this machine cannot run QEMU at all.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/../vm/run.sh"
rc=$?
if [ $rc = 3 ]; then
  echo "SKIP vm-iser: this machine cannot run the QEMU guest (see the line above)"
  exit 0
fi
exit $rc
