#!/usr/bin/env bash
# Fault injection against the release iserd (issue 9), through host-tests' `faults` tool:
#  (a) 2000 initiators vanish mid-I/O with a TCP reset (SO_LINGER 0) while commands and
#      Data-Out are outstanding; iserd's fds and threads return to baseline, others carry on;
#  (b) a file LUN on a full tmpfs: writes get DATA PROTECT / SPACE ALLOCATION FAILED (27/07);
#  (c) a file LUN on an ext4 file system shut down with EXT4_IOC_SHUTDOWN: every I/O gets EIO,
#      answered as MEDIUM ERROR. (Device-mapper's `error` target is not available here.)
# (b) and (c) need root (mount); where mounting is not possible they are skipped with a notice.
# Everything mounted is unmounted on exit. Time budget: 1 minute.
set -euo pipefail
. "$(dirname "$0")/common.bash"

work=$(mktemp -d)
mounts=()
cleanup() {
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
(cd "$ROOT" && cargo build --release -q -p iserd && cargo build -q -p host-tests --bin faults)
tool=$TARGET_DIR/debug/faults
iserd=$TARGET_DIR/release/iserd

timeout 60 "$tool" reset --iserd "$iserd" --dir "$work/reset" --cycles 2000
echo "PASS faults: connection resets"

if [ "$(id -u)" != 0 ]; then
  echo "NOTICE: not root; skipping the disk-full and EIO faults"
  exit 0
fi

mkdir -p "$work/full"
if mount -t tmpfs -o size=24m rel2-full "$work/full"; then
  mounts+=("$work/full")
  timeout 60 "$tool" enospc --iserd "$iserd" --dir "$work/enospc" --mount "$work/full"
  echo "PASS faults: disk full"
else
  echo "NOTICE: cannot mount a tmpfs here; skipping the disk-full fault"
fi

if command -v mkfs.ext4 >/dev/null; then
  truncate -s 64M "$work/ext4.img"
  mkfs.ext4 -q -F "$work/ext4.img"
  mkdir -p "$work/ext4"
  if mount -o loop "$work/ext4.img" "$work/ext4"; then
    mounts+=("$work/ext4")
    timeout 60 "$tool" eio --iserd "$iserd" --dir "$work/eio" --mount "$work/ext4"
    echo "PASS faults: EIO"
  else
    echo "NOTICE: cannot loop-mount ext4 here; skipping the EIO fault"
  fi
else
  echo "NOTICE: mkfs.ext4 missing; skipping the EIO fault"
fi
