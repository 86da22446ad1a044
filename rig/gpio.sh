#!/usr/bin/env bash
# The server's GPIO lines against real kernel lines: boots the QEMU rig with gpio-sim (-g), runs
# `smbus-proxy serve` in the guest offering four of the rig chip's lines (rig-7 held by a kernel
# hog), and runs crates/client/tests/rig_gpio.rs in the guest, which drives the chip's inputs
# through gpio-sim's sysfs and reads its outputs there. Needs root the first time (QEMU, the
# kernel's headers).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked -q -p smbus-proxy
test_bin=$(cargo test --locked -q -p smbus-proxy-client --test rig_gpio --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
target=${CARGO_TARGET_DIR:-target}
strip -o "$work/smbus-proxy" "$target/debug/smbus-proxy"
strip -o "$work/rig_gpio" "$test_bin"

guest='
smbus-proxy serve --listen 127.0.0.1:50051 --line rig-0 --line reset=gpiochip0:1 --line rig-gpio:2 \
  --line rig-7 2>/tmp/serve.log &
SMBUS_PROXY_RIG_GPIO=http://127.0.0.1:50051 rig_gpio --ignored --test-threads 1 2>&1
rc=$?
[ $rc = 0 ] || cat /tmp/serve.log
echo "RIG-GPIO rc=$rc"
'
out=$(rig/qemu-i2c-rig.sh -g -b "$work/smbus-proxy" -b "$work/rig_gpio" -t 300 "$guest" 2>&1) || true
echo "$out"
echo "$out" | grep -q "RIG-GPIO rc=0"
