#!/usr/bin/env bash
# Size report of the firmware images: .text/.rodata/.data/.bss per image (GNU size -A reads
# both ELF classes), and the static RAM per connection and per task as the image itself
# measures it with size_of (FIRMWARE-FOOTPRINT line, so 32-bit and 64-bit layouts are both
# right). Needs the images built and QEMU installed (host-tests/peers/firmware-qemu.sh does both).
set -euo pipefail
FW=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$FW/target}
printf '%-40s %9s %9s %9s %9s\n' image .text .rodata .data .bss
for t in aarch64-unknown-none thumbv7em-none-eabihf; do
  (cd "$FW" && cargo build -q --release --features defmt --target "$t")
  img=$CARGO_TARGET_DIR/$t/release/iser-firmware
  size -A "$img" | awk -v t="$t" '
    $1==".text"{x=$2} $1==".rodata"{r=$2} $1==".data"{d=$2} $1==".bss"{b=$2}
    END{printf "%-40s %9d %9d %9d %9d\n", t, x, r, d+0, b}'
done
# The same images with `core` rebuilt for size (nightly + rust-src only): `-Z build-std=core`
# with core's `optimize_for_size`, and panics as an immediate abort (no panic messages or
# locations; a panic traps instead of printing and exiting 101). Each is run in QEMU too.
if cargo +nightly --version >/dev/null 2>&1 &&
  [ -d "$(rustc +nightly --print sysroot)/lib/rustlib/src/rust/library/core" ]; then
  for t in aarch64-unknown-none thumbv7em-none-eabihf; do
    (cd "$FW" && CARGO_TARGET_DIR=$CARGO_TARGET_DIR/nightly cargo +nightly build -q --release \
      --features defmt --target "$t" -Zbuild-std=core -Zbuild-std-features=optimize_for_size \
      --config "target.$t.rustflags=[\"-Zunstable-options\", \"-Cpanic=immediate-abort\"]")
    img=$CARGO_TARGET_DIR/nightly/$t/release/iser-firmware
    size -A "$img" | awk -v t="$t (nightly build-std)" '
      $1==".text"{x=$2} $1==".rodata"{r=$2} $1==".data"{d=$2} $1==".bss"{b=$2}
      END{printf "%-40s %9d %9d %9d %9d\n", t, x, r, d+0, b}'
  done
else
  echo "(nightly build-std: skipped, needs the nightly toolchain and its rust-src component)"
fi
# Where .text goes: the largest functions of the aarch64 image (after LTO inlining, engine code
# called from one place shows up inside its caller).
echo "largest aarch64 functions (bytes):"
nm --size-sort -S -C "$CARGO_TARGET_DIR/aarch64-unknown-none/release/iser-firmware" |
  awk '$3 ~ /^[tT]$/' | tail -15 | while read -r _ size _ name; do
    printf '  %6d %s\n' "$((16#$size))" "${name:0:100}"
  done
for img in "$CARGO_TARGET_DIR"/{,nightly/}{aarch64-unknown-none,thumbv7em-none-eabihf}/release/iser-firmware; do
  [ -e "$img" ] || continue
  t=${img#"$CARGO_TARGET_DIR"/}
  t=${t%/release/iser-firmware}
  case $t in
    *aarch64*) q=(qemu-system-aarch64 -M virt -cpu cortex-a53 -m 64M -nic none) ;;
    *) q=(qemu-system-arm -M mps2-an386) ;;
  esac
  out=$(timeout 60 "${q[@]}" -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -kernel "$img" 2>&1 >/dev/null || true)
  echo "$t: $(grep -o '^FIRMWARE-RESULT: [A-Z]*' <<<"$out" | cut -d' ' -f2 || echo 'no result')" \
    "$(grep FIRMWARE-FOOTPRINT <<<"$out" | cut -d' ' -f2-)"
done
