#!/usr/bin/env bash
# The server's GPIO lines against real kernel lines: boots the QEMU rig with gpio-sim (-g), runs
# `smbus-proxy serve` in the guest offering four of the rig chip's lines (rig-7 held by a kernel
# hog), and runs crates/client/tests/rig_gpio.rs in the guest, which drives the chip's inputs
# through gpio-sim's sysfs and reads its outputs there (and an embedded-hal display driver
# pulses its reset on one of them). Then a server offering all eight lines,
# and `smbus-proxy gpio` compared with libgpiod's own tools, line for line: what each prints on
# stdout and stderr, and its exit status. Needs root the first time (QEMU, the kernel's
# headers).
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

# The tools: the real one, then ours on a server offering every line, output and status alike.
smbus-proxy serve --listen 127.0.0.1:50052 $(for i in 0 1 2 3 4 5 6 7; do echo --line rig-$i; done) \
  2>/tmp/serve2.log &
for i in $(seq 100); do smbus-proxy gpio detect --server http://127.0.0.1:50052 >/dev/null 2>&1 && break; sleep 0.1; done
fails=0; sames=0
same() {
  tool=$1; shift
  a=$(gpio$tool "$@" 2>&1; echo "exit $?")
  b=$(smbus-proxy gpio $tool --server http://127.0.0.1:50052 "$@" 2>&1; echo "exit $?")
  if [ "$a" = "$b" ]; then
    sames=$((sames + 1)); echo "SAME: gpio$tool $*"
  else
    fails=$((fails + 1)); echo "DIFF: gpio$tool $*"; echo "--- libgpiod:"; echo "$a"; echo "--- smbus-proxy:"; echo "$b"
  fi
}
same detect
same detect gpiochip0
same detect 0
same detect nope
same detect -x
same info
same info rig-3 rig-7
same info -c gpiochip0 2
same info -c 0
same info -c /dev/gpiochip0 0 1
same info -c gpiochip1
same info --unquoted rig-0
same info rig-0 nope rig-1
same info --numeric rig-1
same get rig-0 rig-1
same get --numeric rig-0
same get -l rig-0
same get --unquoted rig-0
same get -c gpiochip0 4 5
same get -c 0 --by-name rig-5
same get -p 20 rig-5
same get rig-7
same get nope
same get
same get -c 9 1
same get -b bogus rig-5
same get rig-5 rig-5
same set -t0 rig-2=2
same set rig-2
same set
same set -t0 rig-5=1 rig-5=0
same set -t0 -c 0 5=off 6=inactive
same set -t 10,10,0 rig-5=on
same mon -n 1 -e up rig-4
# Lines held the way the real tools hold them: every attribute gpioinfo shows.
gpioset -l -b pull-up -d open-drain rig-0=1 & p0=$!
gpiomon -b pull-down -p 10ms -e rising -E realtime rig-1 >/dev/null & p1=$!
gpioset -C mytool rig-2=0 & p2=$!
gpiomon -e falling rig-3 >/dev/null & p3=$!
for i in $(seq 150); do [ "$(gpioinfo | grep -c consumer=)" = 5 ] && break; sleep 0.1; done
same info
same info --unquoted rig-0 rig-1 rig-2 rig-3
same get rig-0
kill $p0 $p1 $p2 $p3; wait $p0 $p1 $p2 $p3 2>/dev/null
# Driving: what the chip sees while each holds a line high (given back, it is pulled down).
for tool in "gpioset" "smbus-proxy gpio set --server http://127.0.0.1:50052"; do
  timeout 20 $tool rig-6=1 & p=$!
  for i in $(seq 150); do gpioinfo rig-6 | grep -q consumer= && break; sleep 0.1; done
  echo "$tool: rig-6 at $(gpiosim 6)"; kill $p; wait $p
done
# Edges: the same events, timestamps aside, as gpio-sim pulls the line once the tool holds it.
for tool in gpiomon "smbus-proxy gpio mon --server http://127.0.0.1:50052"; do
  gpiosim 4 pull-down
  timeout 20 $tool -n 3 -F "%o %e %E %l %c" rig-4 > "/tmp/mon-$(echo $tool | cut -c1-3)" & m=$!
  for i in $(seq 150); do gpioinfo rig-4 | grep -q consumer= && break; sleep 0.1; done
  gpiosim 4 pull-up; sleep 0.1; gpiosim 4 pull-down; sleep 0.1; gpiosim 4 pull-up
  wait $m
done
if cmp -s /tmp/mon-gpi /tmp/mon-smb; then sames=$((sames + 1)); echo "SAME: gpiomon -n 3 -F \"%o %e %E %l %c\" rig-4"; cat /tmp/mon-gpi
else fails=$((fails + 1)); echo "DIFF: gpiomon"; cat /tmp/mon-gpi /tmp/mon-smb; fi
echo "GPIO-TOOLS-COMPARED same=$sames different=$fails"
'
out=$(rig/qemu-i2c-rig.sh -g -b "$work/smbus-proxy" -b "$work/rig_gpio" -t 300 "$guest" 2>&1) || true
echo "$out"
echo "$out" | grep -q "RIG-GPIO rc=0"
echo "$out" | grep -q "GPIO-TOOLS-COMPARED same=[0-9]* different=0"
echo "$out" | grep -q "gpioset: rig-6 at 1"
echo "$out" | grep -q "smbus-proxy gpio set --server http://127.0.0.1:50052: rig-6 at 1"
