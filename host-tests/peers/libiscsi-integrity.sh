#!/usr/bin/env bash
# Real peer: data integrity through libiscsi against a file LUN of iserd. 32 MiB of
# pseudo-random data written with WRITE(16) (FUA on every other request), SYNCHRONIZE CACHE,
# read back with READ(16) and compared, then compared with the LUN's backing file on disk.
# Time budget: ~1 minute.
set -euo pipefail
. "$(dirname "$0")/common.bash"

command -v gcc >/dev/null || { echo "missing gcc" >&2; exit 1; }
[ -e /usr/include/iscsi/iscsi.h ] || { echo "missing libiscsi-dev: apt-get install libiscsi-dev" >&2; exit 1; }

work=$(mktemp -d)
trap 'stop_iserd || true; rm -rf "$work"' EXIT
gcc -O2 -Wall -Werror -o "$work/integrity" "$(dirname "$0")/libiscsi_integrity.c" -liscsi
truncate -s 64M "$work/lun.img"
start_iserd "$work" --file-lun "$work/lun.img"
if "$work/integrity" "iscsi://$ADDR/$IQN/0" 32 "$work/written.bin"; then
  echo "PASS integrity: read back equals written"
else
  echo "FAIL integrity: libiscsi write/read-back"; exit 1
fi
# The backing file holds exactly what was acknowledged (SYNCHRONIZE CACHE returned GOOD).
if cmp -n $((32 << 20)) "$work/written.bin" "$work/lun.img"; then
  echo "PASS integrity: backing file equals written"
else
  echo "FAIL integrity: backing file differs"; exit 1
fi
stop_iserd

# The same through an O_DIRECT file LUN (skipped where the file system refuses O_DIRECT).
truncate -s 64M "$work/direct.img"
if start_iserd "$work" --file-lun "$work/direct.img,direct" 2>/dev/null; then
  if "$work/integrity" "iscsi://$ADDR/$IQN/0" 16 "$work/written-direct.bin" \
     && cmp -n $((16 << 20)) "$work/written-direct.bin" "$work/direct.img"; then
    echo "PASS integrity: O_DIRECT file LUN"
  else
    echo "FAIL integrity: O_DIRECT file LUN"; exit 1
  fi
  stop_iserd
else
  grep -q "O_DIRECT" "$work/iserd.log" && echo "SKIP integrity: O_DIRECT refused here" || { cat "$work/iserd.log"; exit 1; }
fi
