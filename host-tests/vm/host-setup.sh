#!/usr/bin/env bash
# Host side of the VM harness, step 1: QEMU (x86_64, TCG), debootstrap, cpio and tshark.
# Debian 12 images here carry qemu-utils from bookworm-backports, which conflicts with bookworm's
# qemu-system-common, so qemu-system-x86 comes from bookworm-backports too — through a private
# sources list under $VMLAB/apt, leaving the system's apt configuration alone.
# Exit codes: 0 ready, 3 this machine cannot run QEMU (caller SKIPs), anything else a failure.
set -uo pipefail
VMLAB=${VMLAB:-/tmp/iser-vmlab}
mkdir -p "$VMLAB"

have() { command -v "$1" >/dev/null 2>&1; }

if [ "$(uname -m)" != x86_64 ]; then
  echo "host-setup: $(uname -m) host; the harness boots an x86_64 guest only" >&2
  exit 3
fi
# tshark (two-vm.sh's judge of our wire format) from the machine's own sources, its setuid
# question answered beforehand so the install never stops to ask. Not fatal here: two-vm.sh
# reports a missing tshark as a failure of its own.
if ! have tshark && [ "$(id -u)" = 0 ] && have apt-get; then
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  for i in 1 2 3; do   # retry: the lists may be stale, another job may hold the dpkg lock
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tshark && break
    apt-get update -qq; sleep 5
  done
  have tshark || echo "host-setup: installing tshark failed (two-vm.sh will fail)" >&2
fi
if have qemu-system-x86_64 && have debootstrap && have cpio; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! have apt-get; then
  echo "host-setup: qemu-system-x86_64/debootstrap/cpio missing and cannot be installed (need root and apt-get)" >&2
  exit 3
fi
# The mirror the machine already uses (deb822 or one-line sources), plus its backports suite.
M=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
[ -n "$M" ] || M=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
M=${M:-http://deb.debian.org/debian}
A="$VMLAB/apt"
mkdir -p "$A/lists/partial"
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-backports main\n' \
  "$M" "$M" "$M" > "$A/sources.list"
O=(-o "Dir::Etc::sourcelist=$A/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::lists=$A/lists")
for i in 1 2 3 4 5; do apt-get "${O[@]}" update -qq && break; sleep 10; done
for i in 1 2 3 4 5; do   # retry: another job may hold the dpkg lock
  DEBIAN_FRONTEND=noninteractive apt-get "${O[@]}" install -y -qq --no-install-recommends \
    -t bookworm-backports qemu-system-x86 debootstrap cpio && break
  sleep 10
done
have qemu-system-x86_64 && have debootstrap && have cpio || {
  echo "host-setup: installing qemu-system-x86/debootstrap/cpio failed" >&2; exit 1; }
