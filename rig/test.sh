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
cargo test --locked -q -p smbus-proxy --test rig_tools --no-run
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
target=${CARGO_TARGET_DIR:-target}
strip -o "$work/smbus-proxy" "$target/debug/smbus-proxy"

# In the guest: let at24 claim the stub chip at 0x50 (so plain access gets EBUSY), print what
# the real i2c-tools say about the buses (crates/cli/tests/rig_tools.rs repeats each from the
# host, first, so the buses are as the guest left them), then serve every bus until the host
# is done.
guest='
for d in /sys/bus/i2c/devices/i2c-*; do
  n=${d##*-}
  case "$(cat $d/name)" in
    "SMBus stub driver") STUB=$n; echo 24c02 0x50 > $d/new_device;;
    "SMBus I801 adapter at 0700") I801=$n;;
    "radeonfb dvi") DVI=$n;;
  esac
done
tool() { echo "===TOOL $*==="; /usr/sbin/i2c"$@" 2>/dev/null; echo "===END rc=$?==="; }
tool detect -y $I801
tool detect -y -a $STUB
tool detect -y -q $I801
tool detect -y -r $STUB 0x10 0x60
tool detect -y $DVI
tool detect -F $STUB
tool detect -F $DVI
tool set -y -r $I801 0x53 0x10 0xa5
tool set -y -m 0x0f -r $I801 0x53 0x10 0x3c
tool get -y $I801 0x53 0x10
tool set -y -r $I801 0x53 0x20 0x1234 w
tool get -y $I801 0x53 0x20 w
tool set -y $I801 0x53 0x30 1 2 3 4 i
tool get -y $I801 0x53 0x30 i 4
tool get -y $I801 0x53 0x30 i
tool set -y $STUB 0x1c 0x05 0x42
tool get -y $STUB 0x1c 0x05 c
tool get -y $STUB 0x1c
tool set -y $STUB 0x1c 0x40 7 8 9 s
tool get -y $STUB 0x1c 0x40 s
tool get -y $STUB 0x50 0x00
tool get -y -f $STUB 0x50 0x00
tool get -y $I801 0x33 0x00
tool set -y $I801 0x54 0x40 0x73 0x6d 0x62 0x75 0x73 0x7f 0x0a i
tool dump -y $I801 0x54
tool dump -y $I801 0x54 b
tool dump -y -r 0x05-0x12 $I801 0x54 b
tool dump -y -r 0x10-0x2f $I801 0x54 w
tool dump -y -r 0x00-0x1f $I801 0x54 W
tool dump -y -r 0x20-0x47 $I801 0x54 c
tool dump -y $I801 0x54 i
tool dump -y $I801 0x33 b
tool dump -y $STUB 0x1c
tool dump -y $STUB 0x50
tool dump -y -f -r 0x00-0x0f $STUB 0x50
tool dump -y $DVI 0x50 i
tool transfer -y $DVI w1@0x50 0x00 r8
tool transfer -y -v $DVI w1@0x50 0x00 r8@0x50 r2
tool transfer -y -v $DVI w5@0x50 0x80 0xff- w1 0x80 r5
tool transfer -y -v $DVI w9@0x50 0x90 0x01p w1 0x90 r8
tool transfer -y -v $DVI w4@0x50 0xa0 0x33= w1 0xa0 r3
tool transfer -y $DVI w1@0x33 0x00
tool transfer -y $DVI r0@0x50
# Error paths: what the real tools say on stderr, and their exit status.
toolerr() { echo "===ERRTOOL $*==="; /usr/sbin/i2c"$@" 2>&1 >/dev/null; echo "===END rc=$?==="; }
toolerr get -y $I801
toolerr get -x $I801 0x53
toolerr get -y $I801 zz
toolerr get -y $I801 0x05
toolerr get -y $I801 0x53 0x100
toolerr get -y $I801 0x53 0x10 x
toolerr get -y $I801 0x53 0 i 33
toolerr get -y $I801 0x53 0 b 3
toolerr set -y $I801 0x53
toolerr set -y -m
toolerr set -y $I801 0x53 0x05 i
toolerr set -y $I801 0x53 0x05 1 2 c
toolerr set -y -m 0x1 $I801 0x53 0x05 1 c
toolerr set -y $I801 0x53 0x05 1 ww
toolerr set -y $I801 0x53 0x05 1 2 w
toolerr set -y $I801 0x53 0x30 300
toolerr set -y -m 0 $I801 0x53 0x05 1
toolerr set -y $I801 0x53 0x05 1 ip
toolerr detect
toolerr detect -q -r $I801
toolerr detect -y $I801 zz
toolerr detect -y $I801 zz 0x20
toolerr detect -y $I801 0x03 0x20
toolerr detect -y $I801 0x10 0x78
toolerr detect -x $I801
toolerr dump
toolerr dump -y $I801
toolerr dump -y $I801 0x54 x
toolerr dump -y $I801 0x54 ip
toolerr dump -y -r 0x20-0x10 $I801 0x54 b
toolerr dump -y -r 0x01-0x10 $I801 0x54 W
toolerr dump -y -r 0x00-0x10 $I801 0x54 s
toolerr transfer
toolerr transfer -x $DVI
toolerr transfer -y $DVI
toolerr transfer -y $DVI x
toolerr transfer -y $DVI w1@0x50
toolerr transfer -y $DVI r0x10000@0x50
toolerr transfer -y $DVI w1@0x50 0x100
toolerr transfer -y $DVI r1
toolerr transfer -y $DVI w2@0x50 0x00
# Only the port QEMU forwards to the host loopback reaches this guest.
smbus-proxy serve --listen 0.0.0.0:'"$PORT"' --insecure-network --log-ops info &
sleep 3600
'
# The Python package too, if scripts/test has installed it.
host="export SMBUS_PROXY_RIG=http://127.0.0.1:$PORT SMBUS_PROXY_RIG_LOG=\$RIG_LOG
  cargo test --locked -q -p smbus-proxy --test rig_tools -- --ignored --test-threads 1 &&
  cargo test --locked -q -p smbus-proxy-client --test rig -- --ignored --test-threads 1 &&
  if "$target/test-venv/bin/python" -c 'import smbus_proxy' 2>/dev/null; then
    "$target/test-venv/bin/pytest" -q tests/python/test_rig.py
  else
    echo 'SKIPPED tests/python/test_rig.py: the package is not installed (scripts/test installs it)'
  fi"
exec rig/qemu-i2c-rig.sh -r -b "$work/smbus-proxy" -f "$PORT" -H "$host" "$guest"
