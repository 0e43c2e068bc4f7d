#!/usr/bin/env bash
# The project's VM harness: iserd over real RDMA verbs (soft-RoCE in a QEMU guest running
# Debian's 6.1 kernel) against initiators we did not write.
#   1. host-setup.sh   QEMU, debootstrap, cpio (exit 3: this machine cannot run QEMU)
#   2. build-guest.sh  kernel + initramfs, cached under $VMLAB (default /tmp/iser-vmlab)
#   3. our release binaries (iserd, iser, iser-badpeer) into $VMLAB/share (9p, /mnt/host)
#   4. boot.sh guest/scenarios.sh; its ISERVM-RESULT lines become PASS/FAIL lines here
#   5. two-vm.sh: two guests on one link, our initiators against iserd, the link's pcap
#      judged by tshark
# Prints `N passed, M failed`; exits 0 when all passed, 3 when QEMU cannot run here, 1 else.
# env: VMLAB, CARGO_TARGET_DIR, VM_TIMEOUT (s, 600), ISERVM_MIB (64), ISERVM_LOG (debug),
#      ISERVM_ONLY (comma-separated scenario groups of guest/scenarios.sh, e.g. ours,kill, and
#      twovm for step 5; all; `twovm` alone skips step 4), ISERVM_BENCH_OTHERS (LABEL=PATH,...:
#      other iserd binaries the bench runs beside ours), ISERVM_CULOOP (runs per target of the
#      opt-in culoop group, 40; ISERVM_CUTGT=0 skips tgt, ISERVM_CUTESTS=A:B, ISERVM_CUENV=V=X:..),
#      ISERVM_PREBUILT=1 (no cargo build), ISERVM_ISERD (this iserd binary), ISERVM_LINGER
#      (iserd's --logout-linger SECS; its default when unset)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export VMLAB=${VMLAB:-/tmp/iser-vmlab}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
T0=$(date +%s)
took() { echo "$(( $(date +%s) - T0 ))s"; }

"$HERE/host-setup.sh" > "$VMLAB.setup.log" 2>&1
rc=$?
if [ $rc = 3 ]; then tail -1 "$VMLAB.setup.log"; exit 3; fi
if [ $rc != 0 ]; then cat "$VMLAB.setup.log"; echo "0 passed, 1 failed"; exit 1; fi
if ! qemu-system-x86_64 -accel help 2>/dev/null | grep -qx tcg; then
  echo "qemu-system-x86_64 has no TCG accelerator"; exit 3
fi
if [ ! -f "$VMLAB/out/initrd.cpio" ] && [ "$(id -u)" != 0 ]; then
  echo "building the guest needs root (debootstrap, chroot)"; exit 3
fi
echo "vm: host ready ($(took))"
if ! "$HERE/build-guest.sh" > "$VMLAB.build.log" 2>&1; then
  tail -20 "$VMLAB.build.log"; echo "FAIL guest-build"; echo "0 passed, 1 failed"; exit 1
fi
grep '^build-guest:' "$VMLAB.build.log" | tail -1
echo "vm: guest ready ($(took))"
[ -n "${ISERVM_PREBUILT:-}" ] || (cd "$ROOT" && cargo build --release -q -p iserd -p iser-initiator) || { echo "FAIL build"; echo "0 passed, 1 failed"; exit 1; }
SHARE=$VMLAB/share
rm -rf "$SHARE"; mkdir -p "$SHARE/bin" "$SHARE/results"
cp "$TARGET_DIR/release/iserd" "$TARGET_DIR/release/iser" "$TARGET_DIR/release/iser-badpeer" \
  "$TARGET_DIR/release/iser-blkbench" "$SHARE/bin/"
[ -n "${ISERVM_ISERD:-}" ] && cp "$ISERVM_ISERD" "$SHARE/bin/iserd"
cp "$HERE"/guest/*.sh "$SHARE/"
# An A/B bench: ISERVM_BENCH_OTHERS=LABEL=PATH,... names other iserd binaries benched beside ours.
for lp in $(echo "${ISERVM_BENCH_OTHERS:-}" | tr , ' '); do cp "${lp#*=}" "$SHARE/bin/iserd-${lp%%=*}"; done
echo "vm: binaries shared ($(took))"

ONLY=${ISERVM_ONLY:-}
want_twovm=0; [ -z "$ONLY" ] || [[ ",$ONLY," == *",twovm,"* ]] && want_twovm=1
want_single=1; [ -n "$ONLY" ] && [ -z "$(echo ",$ONLY," | sed 's/,twovm,/,/g; s/,//g')" ] && want_single=0
P=0; F=0
if [ $want_single = 1 ]; then
  VM_APPEND="iservm.mib=${ISERVM_MIB:-64} iservm.log=${ISERVM_LOG:-debug} iservm.only=$ONLY iservm.tgtdebug=${ISERVM_TGTD_DEBUG:-0} iservm.iserlog=${ISERVM_ISER_LOG:-warn} iservm.benchruns=${ISERVM_BENCH_RUNS:-3} iservm.benchsecs=${ISERVM_BENCH_SECS:-8} iservm.culoop=${ISERVM_CULOOP:-40} iservm.cutgt=${ISERVM_CUTGT:-1} iservm.cuenv=${ISERVM_CUENV:-none} iservm.cutests=${ISERVM_CUTESTS:-default} iservm.linger=${ISERVM_LINGER:-default}" "$HERE/boot.sh" scenarios.sh "${VM_TIMEOUT:-600}" > "$SHARE/results/console.log" 2>&1
  qrc=$?
  echo "vm: guest done, qemu rc=$qrc ($(took))"
  grep -E '^ISERVM-(NOTE|RESULT|BENCH)' "$SHARE/results/console.log" | sed 's/^ISERVM-NOTE: /  /; s/^ISERVM-RESULT: //; s/^ISERVM-BENCH: /  bench: /'
  P=$(grep -c '^ISERVM-RESULT: PASS' "$SHARE/results/console.log")
  F=$(grep -c '^ISERVM-RESULT: FAIL' "$SHARE/results/console.log")
  if ! grep -q '^ISERVM: script exit=' "$SHARE/results/console.log"; then
    echo "FAIL guest-finished (no script exit line: crash or timeout; console: $SHARE/results/console.log)"
    F=$((F + 1))
  fi
  if [ "$F" != 0 ]; then
    echo "--- console tail ($SHARE/results/console.log) ---"; tail -40 "$SHARE/results/console.log"
    echo "--- iserd log tail ($SHARE/results/iserd.log) ---"; tail -30 "$SHARE/results/iserd.log" 2>/dev/null
  fi
fi
if [ $want_twovm = 1 ]; then
  TWOVM_BIN=$SHARE/bin "$HERE/two-vm.sh" > "$VMLAB.twovm.log" 2>&1
  grep -v -E '^[0-9]+ passed, [0-9]+ failed$' "$VMLAB.twovm.log"
  P=$((P + $(grep -c '^PASS ' "$VMLAB.twovm.log")))
  F=$((F + $(grep -c '^FAIL ' "$VMLAB.twovm.log")))
  grep -q -E '^[0-9]+ passed, [0-9]+ failed$' "$VMLAB.twovm.log" ||
    { echo "FAIL twovm-finished (no summary line: $VMLAB.twovm.log)"; F=$((F + 1)); }
fi
echo "vm: total $(took)"
echo "$P passed, $F failed"
[ "$F" = 0 ] && [ "$P" != 0 ]
