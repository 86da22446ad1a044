#!/usr/bin/env bash
# The Linux backend against a real kernel: boots the QEMU rig with an i801 SMBus, i2c-stub and
# radeonfb's plain-I2C buses, runs `smbus-proxy serve` inside the guest on all of them, and
# drives it from the host through the forwarded port with the project's client
# (crates/client/tests/rig.rs). Needs root the first time, to install QEMU.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${SMBUS_PROXY_RIG_PORT:-50151}

cargo build --locked -q -p smbus-proxy
cargo test --locked -q -p smbus-proxy-client --test rig --no-run
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
strip -o "$work/smbus-proxy" target/debug/smbus-proxy

# In the guest: let at24 claim the stub chip at 0x50 (so plain access gets EBUSY), then serve
# every bus until the host is done.
guest='
for d in /sys/bus/i2c/devices/i2c-*; do
  [ "$(cat $d/name)" = "SMBus stub driver" ] && echo 24c02 0x50 > $d/new_device
done
smbus-proxy serve --listen 0.0.0.0:'"$PORT"' --log-ops info &
sleep 3600
'
host="SMBUS_PROXY_RIG=http://127.0.0.1:$PORT cargo test --locked -q -p smbus-proxy-client --test rig -- --ignored --test-threads 1"
exec rig/qemu-i2c-rig.sh -r -b "$work/smbus-proxy" -f "$PORT" -H "$host" "$guest"
