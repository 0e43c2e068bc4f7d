#!/usr/bin/env bash
# The DPU firmware images in QEMU (issue 7): turns firmware/config/example.toml into the
# configuration blob with `iserd firmware-config` (and checks the checked-in blob is that
# output), builds firmware/ with it for aarch64 (QEMU virt) and thumbv7em (QEMU mps2-an386),
# runs each with a timeout, and fails unless each exits 0 with a PASS line (one login per
# target, every LUN written and read), reports the targets and LUNs of the TOML and its clock
# keeps real time against the host's; then builds aarch64 with a second TOML (4 KiB blocks,
# other IQN and keys) and checks the image used it; then checks that a corrupt blob, a
# truncated blob, a LUN larger than the image's memory, LUNs together larger than it, and more
# targets or LUNs than the image serves make the image exit 2 with a clear error. Decodes the defmt log with defmt-print when it is installed (set
# FW_INSTALL_DEFMT_PRINT=1 to install it, ~3 min). Time budget: ~2 minutes warm, plus installs.
# Installs what it lacks: rustup targets, and qemu-system-arm from bookworm-backports through a
# private sources list (bookworm's QEMU conflicts with the image's backports qemu-utils).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FW=$ROOT/firmware
HOST_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$FW/target}
TIMEOUT=${FW_TIMEOUT:-120}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- 1. tools ------------------------------------------------------------------------------
rustup target add aarch64-unknown-none thumbv7em-none-eabihf >/dev/null
if ! command -v qemu-system-aarch64 >/dev/null || ! command -v qemu-system-arm >/dev/null; then
  LAB=${FW_APT_DIR:-/tmp/firmware-qemu-apt}
  mkdir -p "$LAB/lists/partial"
  M=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-backports main\n' "$M" "$M" "$M" >"$LAB/sources.list"
  O="-o Dir::Etc::sourcelist=$LAB/sources.list -o Dir::Etc::sourceparts=- -o Dir::State::lists=$LAB/lists"
  for i in 1 2 3 4 5; do apt-get $O update -qq && break; sleep 10; done
  for i in 1 2 3 4 5; do
    DEBIAN_FRONTEND=noninteractive apt-get $O install -y -qq --no-install-recommends \
      -t bookworm-backports qemu-system-arm && break; sleep 10; done
fi
qemu-system-aarch64 --version | head -1
if ! command -v defmt-print >/dev/null && [ "${FW_INSTALL_DEFMT_PRINT:-0}" = 1 ]; then
  cargo install --locked defmt-print
fi

# --- 2. configuration blobs from TOML (iserd's format) -----------------------------------------
fwconfig() { # fwconfig TOML BLOB
  (cd "$ROOT" && CARGO_TARGET_DIR=$HOST_TARGET_DIR cargo run -q -p iserd -- firmware-config "$1" -o "$2")
}

# --- 3. build --------------------------------------------------------------------------------
build() { # build TARGET [env...]: builds the image, prints its path
  (cd "$FW" && env "${@:2}" cargo build -q --release --features defmt --target "$1")
  echo "$CARGO_TARGET_DIR/$1/release/iser-firmware"
}

# run NAME IMAGE: runs the image in QEMU (aarch64 when NAME starts with aarch64); sets RC,
# leaves $work/NAME.{defmt,log,err}
run() {
  local name=$1 img=$2 qemu
  case "$name" in
    aarch64*) qemu=(qemu-system-aarch64 -M virt -cpu cortex-a53 -m 64M -nic none) ;;
    *) qemu=(qemu-system-arm -M mps2-an386) ;;
  esac
  RC=0
  timeout "$TIMEOUT" "${qemu[@]}" -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -kernel "$img" \
    >"$work/$name.defmt" 2>"$work/$name.err" || RC=$?
  if command -v defmt-print >/dev/null; then
    defmt-print -e "$img" <"$work/$name.defmt" >"$work/$name.log" 2>&1 || true
    sed 's/^/    /' "$work/$name.log"
  else
    echo "    (defmt-print not installed: defmt log not decoded)"
  fi
  sed 's/^/    /' "$work/$name.err"
}

passed=0 failed=0
check() { # check NAME CONDITION-DESCRIPTION: counts the verdict of the last test
  if [ "$1" = ok ]; then passed=$((passed + 1)); echo "FIRMWARE-TEST: PASS $2"
  else failed=$((failed + 1)); echo "FIRMWARE-TEST: FAIL $2 (exit $RC)"; fi
}

fwconfig "$FW/config/example.toml" "$work/example.postcard"
RC=0; cmp -s "$work/example.postcard" "$FW/config/default.postcard" || RC=1
v=fail; [ "$RC" = 0 ] && v=ok
check $v "checked-in config/default.postcard is iserd firmware-config of config/example.toml"

for target in aarch64-unknown-none thumbv7em-none-eabihf; do
  img=$(build "$target" FW_CONFIG="$work/example.postcard")
  cp "$img" "$work/$target.elf"
  echo "== $target"
  run "$target" "$work/$target.elf"
  v=fail
  [ "$RC" = 0 ] && grep -q '^FIRMWARE-RESULT: PASS .* logins=2 luns=3 ' "$work/$target.err" &&
    grep -q '^FIRMWARE-CONFIG: .* targets=2 luns=3 .* queue_depth=32 ' "$work/$target.err" &&
    grep -q '^FIRMWARE-LUN: target=iqn.2026-11.rs.iser:dpu0 .* lun=0 block_size=512 blocks=2048 ' "$work/$target.err" &&
    grep -q '^FIRMWARE-LUN: target=iqn.2026-11.rs.iser:dpu0 .* lun=1 block_size=4096 blocks=64 thin=true' "$work/$target.err" &&
    grep -q '^FIRMWARE-LUN: target=iqn.2026-11.rs.iser:dpu1 .* lun=3 block_size=512 blocks=1024 ' "$work/$target.err" && v=ok
  check $v "$target self-test with the configuration of example.toml (2 targets, 3 LUNs)"
  # The clock the engines' timeouts run on keeps real time: 1 host second ≈ 1000 ms.
  ms=$(sed -n 's/^FIRMWARE-CLOCK: host_s=1 image_ms=\([0-9]*\)$/\1/p' "$work/$target.err")
  v=fail; [ -n "$ms" ] && [ "$ms" -ge 900 ] && [ "$ms" -le 1100 ] && v=ok
  check $v "$target clock runs on real time (1 s by the host = ${ms:-?} ms by the image)"
done

# --- 4. another TOML: the image configures itself from it -------------------------------------
cat >"$work/other.toml" <<'EOF_TOML'
[[portal]]
listen = "[2001:db8::7]:3261"
group_tag = 7
[limits]
queue_depth = 16
max_recv_data_segment_length = "4KiB"
max_burst_length = "128KiB"
first_burst_length = "16KiB"
immediate_data = true
initial_r2t = false
[[target]]
name = "iqn.2026-11.rs.iser:other"
[[target.lun]]
id = 5
ram = "512KiB"
block_size = 4096
thin = true
EOF_TOML
fwconfig "$work/other.toml" "$work/other.postcard"
img=$(build aarch64-unknown-none FW_CONFIG="$work/other.postcard")
cp "$img" "$work/aarch64-other.elf"
echo "== aarch64 with another configuration"
run aarch64-other "$work/aarch64-other.elf"
v=fail
[ "$RC" = 0 ] && grep -q '^FIRMWARE-RESULT: PASS' "$work/aarch64-other.err" &&
  grep -q '^FIRMWARE-RESULT: PASS .* logins=1 luns=1 ' "$work/aarch64-other.err" &&
  grep -q '^FIRMWARE-CONFIG: .* targets=1 luns=1 portal=\[2001:db8:0:0:0:0:0:7\]:3261,7 portals=1 queue_depth=16 MaxRecvDataSegmentLength=4096 MaxBurstLength=131072 FirstBurstLength=16384 ImmediateData=true InitialR2T=false' "$work/aarch64-other.err" &&
  grep -q '^FIRMWARE-LUN: target=iqn.2026-11.rs.iser:other alias=- lun=5 block_size=4096 blocks=128 thin=true' "$work/aarch64-other.err" && v=ok
check $v "aarch64 self-test with the configuration of another TOML"

# --- 5. bad configuration blobs: exit 2, clear error, no panic --------------------------------
blob=$work/example.postcard
n=$(stat -c %s "$blob")
cp "$blob" "$work/corrupt.postcard"
printf '\x5a' | dd of="$work/corrupt.postcard" bs=1 seek=$((n / 2)) conv=notrunc status=none
head -c $((n - 7)) "$blob" >"$work/truncated.postcard"
sed 's/^ram = "1MiB"/ram = "4MiB"/' "$FW/config/example.toml" >"$work/toobig.toml"
# Each LUN fits the image's 2 MiB, together they do not.
sed 's/^ram = "1MiB"/ram = "1536KiB"/' "$FW/config/example.toml" >"$work/toomuch.toml"
# Three targets (the image serves two), and five LUNs (it serves four).
{ cat "$FW/config/example.toml"; printf '[[target]]\nname = "iqn.2026-11.rs.iser:dpu2"\n[[target.lun]]\nram = "4KiB"\n'; } >"$work/targets.toml"
{ cat "$FW/config/example.toml"; printf '[[target.lun]]\nid = %d\nram = "4KiB"\n' 4 5; } >"$work/luns.toml"
for name in toobig toomuch targets luns; do fwconfig "$work/$name.toml" "$work/$name.postcard"; done
for bad in corrupt:Checksum truncated:Truncated 'toobig:lun.blocks (larger than the LU memory)' \
  'toomuch:targets.luns.blocks (together larger' 'targets:targets (more than the image serves)' \
  'luns:targets.luns (more logical units than the image serves)'; do
  name=${bad%%:*} why=${bad#*:}
  img=$(build aarch64-unknown-none FW_CONFIG="$work/$name.postcard")
  cp "$img" "$work/aarch64-$name.elf"
  echo "== aarch64 with a $name configuration blob"
  run "aarch64-$name" "$work/aarch64-$name.elf"
  v=fail
  [ "$RC" = 2 ] && grep -qF "refused: $why" "$work/aarch64-$name.err" && v=ok
  check $v "$name configuration blob refused ($why)"
done
# Leave the default image built (FW_CONFIG rebuilt the binary).
build aarch64-unknown-none >/dev/null

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
