#!/usr/bin/env bash
# Real peers over real RDMA: iserd on soft-RoCE in a QEMU guest (Debian 6.1 kernel, rdma_rxe)
# against the Linux kernel iSER initiator and libiscsi's iser:// transport (host-tests/vm/).
# Installs what it needs (QEMU from bookworm-backports, debootstrap, cpio); the guest image is
# cached under $VMLAB (default /tmp/iser-vmlab). Time budget: ~2 min warm, ~3 min cold.
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
