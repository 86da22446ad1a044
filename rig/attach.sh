#!/usr/bin/env bash
# `smbus-proxy attach` against a real kernel: boots the QEMU rig, serves its buses with
# `smbus-proxy serve` in the guest, attaches the i2c-stub bus (SMBus only, at24 owning 0x50)
# and the radeonfb dvi bus (plain I2C, an EDID EEPROM at 0x50) as new /dev/i2c-N nodes through
# CUSE, and runs the real i2c-tools and a C program (rig/i2cdev-check.c) on the kernel's node
# and on the attached one: every line they print, and their exit status, must be the same. Then
# it times a loop of I2C_SMBUS reads through each node and through the client library, and
# checks that the nodes disappear when attach stops.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked -q -p smbus-proxy -p smbus-proxy-client --bin smbus-proxy --example read_loop
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
target=${CARGO_TARGET_DIR:-target}
strip -o "$work/smbus-proxy" "$target/debug/smbus-proxy"
strip -o "$work/read_loop" "$target/debug/examples/read_loop"
gcc -O2 -Wall -Wextra -Werror -o "$work/i2cdev-check" rig/i2cdev-check.c

guest='
for d in /sys/bus/i2c/devices/i2c-*; do
  n=${d##*-}
  case "$(cat $d/name)" in
    "SMBus stub driver") STUB=$n; echo 24c02 0x50 > $d/new_device;;
    "radeonfb dvi") DVI=$n;;
  esac
done
smbus-proxy serve --listen 127.0.0.1:50051 2>/tmp/serve.log &
attach() {
  smbus-proxy attach --server http://127.0.0.1:50051 $1 >/tmp/node-$1 2>>/tmp/attach.log &
  echo $! >> /tmp/attach.pids
  for i in $(seq 100); do grep -q /dev/ /tmp/node-$1 2>/dev/null && break; sleep 0.1; done
  sed -n "s|/dev/i2c-||p" /tmp/node-$1
}
for i in $(seq 100); do smbus-proxy detect --server http://127.0.0.1:50051 -l >/dev/null 2>&1 && break; sleep 0.1; done
SA=$(attach $STUB); DA=$(attach $DVI)
echo "ATTACHED stub $STUB as $SA, dvi $DVI as $DA"
ls -l /dev/i2c-$SA /dev/i2c-$DA
fails=0; sames=0
# Runs the command on the kernel node and on the attached one ({} is the bus number, {N} the
# node), the node names made alike, and compares everything: stdout, stderr, exit status.
same() {
  real=$1; att=$2; shift 2
  a=$(eval "$(echo "$*" | sed "s|{N}|/dev/i2c-$real|g; s|{}|$real|g")" 2>&1; echo "exit $?")
  b=$(eval "$(echo "$*" | sed "s|{N}|/dev/i2c-$att|g; s|{}|$att|g")" 2>&1; echo "exit $?")
  a=$(echo "$a" | sed "s|i2c-$real\b|i2c-N|g"); b=$(echo "$b" | sed "s|i2c-$att\b|i2c-N|g")
  if [ "$a" = "$b" ]; then
    sames=$((sames + 1)); echo "SAME: $*"
  else
    fails=$((fails + 1)); echo "DIFF: $*"; echo "--- the kernel node:"; echo "$a"; echo "--- the attached node:"; echo "$b"
  fi
}
T=/usr/sbin
stub() { same $STUB $SA "$@"; }
dvi() { same $DVI $DA "$@"; }
stub $T/i2cdetect -y {}
stub $T/i2cdetect -y -a {}
stub $T/i2cdetect -y -q {}
stub $T/i2cdetect -y -r {}
stub $T/i2cdetect -y -r {} 0x10 0x60
stub $T/i2cdetect -F {}
dvi $T/i2cdetect -y {}
dvi $T/i2cdetect -y -r {}
dvi $T/i2cdetect -F {}
stub $T/i2cset -y {} 0x1c 0x05 0x42
stub $T/i2cset -y -r {} 0x1c 0x06 0x43
stub $T/i2cset -y -m 0x0f -r {} 0x1c 0x06 0x3c
stub $T/i2cget -y {} 0x1c 0x05
stub $T/i2cget -y {} 0x1c 0x05 c
stub "$T/i2cset -y {} 0x1c 0x06 && $T/i2cget -y {} 0x1c"
stub $T/i2cset -y -r {} 0x1c 0x20 0x1234 w
stub $T/i2cget -y {} 0x1c 0x20 w
stub $T/i2cset -y {} 0x1c 0x30 1 2 3 4 i
stub $T/i2cget -y {} 0x1c 0x30 i 4
stub $T/i2cset -y {} 0x1c 0x40 7 8 9 s
stub $T/i2cget -y {} 0x1c 0x40 s
stub $T/i2cget -y {} 0x1c 0x05 bp
stub $T/i2cget -y {} 0x50 0x00
stub $T/i2cget -y -f {} 0x50 0x00
stub $T/i2cget -y {} 0x33 0x00
stub $T/i2cset -y {} 0x33 0x00 0x01
stub $T/i2cdump -y {} 0x1c
stub $T/i2cdump -y {} 0x1c b
stub $T/i2cdump -y {} 0x1c w
stub $T/i2cdump -y -r 0x00-0x1f {} 0x1c W
stub $T/i2cdump -y {} 0x1c c
stub $T/i2cdump -y {} 0x1c i
stub $T/i2cdump -y -r 0x40-0x47 {} 0x1c s
stub $T/i2cdump -y -r 0x05-0x12 {} 0x1c bp
stub $T/i2cdump -y {} 0x50
stub $T/i2cdump -y -f -r 0x00-0x0f {} 0x50
stub $T/i2cdump -y {} 0x33 b
stub $T/i2ctransfer -y {} w1@0x1c 0x00 r2
dvi $T/i2cdump -y {} 0x50 i
dvi $T/i2cdump -y {} 0x50 b
dvi $T/i2ctransfer -y {} w1@0x50 0x00 r8
dvi $T/i2ctransfer -y -v {} w1@0x50 0x00 r8@0x50 r2
dvi $T/i2ctransfer -y -v {} w5@0x50 0x80 0xff- w1 0x80 r5
dvi $T/i2ctransfer -y -v {} w4@0x50 0xa0 0x33= w1 0xa0 r3
dvi $T/i2ctransfer -y {} w3@0x50 0xe0 0x02 0x5a
dvi $T/i2ctransfer -y {} w1@0x50 0xe0 "r?"
dvi $T/i2ctransfer -y {} r0@0x50
dvi $T/i2ctransfer -y {} w1@0x33 0x00
dvi $T/i2ctransfer -y {} r1@0x33
stub i2cdev-check smbus {N} 0x1c 0x50 0x33
dvi i2cdev-check i2c {N} 0x50 0x33
echo "ATTACH-COMPARED same=$sames different=$fails"
i2cdev-check bench /dev/i2c-$STUB 0x1c 500 | sed "s/^/BENCH kernel node: /"
i2cdev-check bench /dev/i2c-$SA 0x1c 500 | sed "s/^/BENCH attached node: /"
read_loop http://127.0.0.1:50051 $STUB 0x1c 500 | sed "s/^/BENCH client library: /"
kill -TERM $(cat /tmp/attach.pids); sleep 1
if [ -e /dev/i2c-$SA ] || [ -e /dev/i2c-$DA ]; then echo "DIFF: the nodes outlived attach"; fails=$((fails + 1)); fi
ls /dev/i2c-*
cat /tmp/attach.log
[ $fails = 0 ]
'
rig/qemu-i2c-rig.sh -r -t 300 -b "$work/smbus-proxy" -b "$work/i2cdev-check" -b "$work/read_loop" "$guest"
