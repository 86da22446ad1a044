#!/usr/bin/env bash
# Sessions over a network that really fails. Two hosts made for the test, network namespaces
# "pi" and "laptop" joined by a veth pair, with `tc netem` on both ends for delay and jitter
# (2 ± 1 ms each way) and loss, `ip link set down` for blackouts, `ss -K` for TCP resets, and
# SIGSTOP for a laptop that sleeps. On the pi, the server on a simulated lab of buses, each with a
# write log (0x60) and a register file (0x48). On the laptop, four driver loops at once,
# one per bus: the Rust client (the `exactly_once` example) and the Python package
# (tests/network/driver.py), each sync and pipelined. Each loop writes a counter to its write
# log and reads back, through the outage; at its end it checks that the log holds every write
# once, in order, and the Rust loop that it held the bus's lock throughout.
#
# Netem is why this runs in the QEMU rig: its Debian kernel has sch_netem, which a host's kernel
# may not. The guest runs the host's own programs (its root shared read-only), under emulation,
# so every call costs milliseconds more than on the machine itself; the "no netem" line of the
# figures it prints is that baseline.
#
# Usage: tests/network.sh [PYTHON], after `cargo build -p smbus-proxy -p smbus-proxy-client
# --bins --examples`; PYTHON has the smbus_proxy package (the Python loops are skipped without
# it). Needs qemu-system-x86_64 (rig/qemu-i2c-rig.sh) on an x86_64 machine.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1-}" != inside ]; then
  python=${1-}
  [ -z "$python" ] || python=$(realpath -s "$python")
  exec rig/qemu-i2c-rig.sh -n -s '' -m 2048 -t 900 \
    "chroot /host /bin/bash -c 'export TMPDIR=/run/tmp && cd $(pwd) && exec tests/network.sh inside $python'"
fi

python=${2-}
profile=$(realpath -m "${CARGO_TARGET_DIR:-target}/debug")
server=$profile/smbus-proxy
rust=$profile/examples/exactly_once
work=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
fail() {
  echo "network: FAILED: $*" >&2
  for log in "$work"/*.log; do
    echo "--- $log" >&2
    cat "$log" >&2
  done
  exit 1
}
now() { cut -d' ' -f1 /proc/uptime; }

ip netns add pi
ip netns add laptop
ip link add eth0 netns pi type veth peer name eth0 netns laptop
ip -n pi addr add 10.77.0.1/24 dev eth0
ip -n laptop addr add 10.77.0.2/24 dev eth0
for host in pi laptop; do
  ip -n "$host" link set lo up
  ip -n "$host" link set eth0 up
done
pi() { ip netns exec pi "$@"; }
laptop() { ip netns exec laptop "$@"; }
# NETEM ARGS: the same impairment on both ends, so each direction has it; none without ARGS.
netem() {
  for host in pi laptop; do
    tc -n "$host" qdisc del dev eth0 root 2>/dev/null || true
    [ $# -eq 0 ] || tc -n "$host" qdisc add dev eth0 root netem "$@"
  done
}

# Four buses for each scenario's four loops: a write log is never emptied.
for bus in $(seq 40); do
  printf '[[bus]]\nnumber = %d\n[[bus.device]]\nmodel = "write-log"\naddr = 0x60\n' "$bus"
  printf '[[bus.device]]\nmodel = "register-file"\naddr = 0x48\n'
done > "$work/lab.toml"
# Two servers: one with the default resume window, one that grants at most 4 s, for outages
# that outlast it.
pi "$server" serve --simulate "$work/lab.toml" --listen 10.77.0.1:50051 --insecure-network \
  --no-announce 2> "$work/server.log" &
pids+=($!)
pi "$server" serve --simulate "$work/lab.toml" --listen 10.77.0.1:50052 --insecure-network \
  --no-announce --max-resume-window-ms 4000 2> "$work/short-window.log" &
pids+=($!)
for port in 50051 50052; do
  for _ in $(seq 300); do
    SMBUS_PROXY_SERVER="http://10.77.0.1:$port" laptop "$server" status >/dev/null 2>&1 && continue 2
    sleep 0.1
  done
  fail "the server on port $port did not come up"
done

# start SCENARIO SECONDS PORT [--expect-lost]: the four loops, in the background, each on a
# bus of its own that no loop used before.
loops=()
buses=0
start() {
  local scenario=$1 seconds=$2 port=$3 url="http://10.77.0.1:$3" bus=$((buses + 1))
  shift 3
  buses=$((buses + 4))
  loops=()
  laptop "$rust" "$url" $bus "$seconds" "$@" > "$work/$scenario.rust-sync.log" 2>&1 &
  loops+=($!)
  laptop "$rust" "$url" $((bus + 1)) "$seconds" --pipeline 32 "$@" > "$work/$scenario.rust-pipelined.log" 2>&1 &
  loops+=($!)
  if [ -n "$python" ]; then
    laptop "$python" tests/network/driver.py "$url" $((bus + 2)) "$seconds" "$@" \
      > "$work/$scenario.python-sync.log" 2>&1 &
    loops+=($!)
    laptop "$python" tests/network/driver.py "$url" $((bus + 3)) "$seconds" --pipeline "$@" \
      > "$work/$scenario.python-pipelined.log" 2>&1 &
    loops+=($!)
  fi
  # Every loop is calling before the network fails: each bus's session is in a server's log.
  local b
  for b in $(seq "$bus" $((bus + ${#loops[@]} - 1))); do
    for _ in $(seq 600); do
      grep -q "new client requests bus $b " "$work/server.log" "$work/short-window.log" && continue 2
      for pid in "${loops[@]}"; do kill -0 "$pid" 2>/dev/null || return 0; done
      sleep 0.1
    done
  done
}
# finish SCENARIO: waits for the loops; each must have passed.
finish() {
  local scenario=$1 status=0
  for pid in "${loops[@]}"; do wait "$pid" || status=1; done
  for log in "$work/$1".*.log; do sed "s/^/  /" "$log"; done
  [ $status = 0 ] || fail "$scenario: a driver loop failed"
}
# pause SCENARIO: the longest pause between two answers, the most of the four loops.
pause() {
  sed -n 's/.*longest pause between answers \([0-9.]*\) s.*/\1/p' "$work/$1".*.log | sort -g | tail -1
}
# loop_pids: the driver loops' processes (what `ip netns exec` became), read with builtins
# only, so that stopping them all takes no time.
loop_pids() {
  local proc args
  for proc in /proc/[0-9]*; do
    mapfile -d '' args 2>/dev/null < "$proc/cmdline" || continue
    [[ "${args[*]}" =~ examples/exactly_once|network/driver.py ]] && echo "${proc#/proc/}"
  done
  return 0
}
# blackout SECONDS: the link down on the laptop's side (both ends lose carrier), then up;
# prints how long it really was down.
blackout() {
  local down
  down=$(now)
  laptop ip link set eth0 down
  sleep "$1"
  laptop ip link set eth0 up
  awk -v up="$(now)" -v down="$down" 'BEGIN { printf "%.2f", up - down }'
}

echo "== delay, jitter and loss: per-call latency"
# latency SCENARIO LOOP: "p50 / p99" of one loop's calls, in ms.
latency() { sed -n 's/.*calls: p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms.*/\1 \/ \2/p' "$work/$1.$2.log"; }
figures=("| network, each way | Rust, sync: p50 / p99 ms | Python, sync: p50 / p99 ms | Rust, pipelined | Python, pipelined |"
  "|---|---|---|---|---|")
for case in "none" "delay 2ms 1ms" "delay 2ms 1ms loss 1%" "delay 2ms 1ms loss 5%"; do
  name=${case// /-}
  # shellcheck disable=SC2086
  if [ "$case" = none ]; then netem; else netem $case; fi
  start "$name" 8 50051
  finish "$name"
  row="| $(echo "$case" | sed 's/none/no netem/; s/delay 2ms 1ms/2 ± 1 ms/; s/ loss \(.*\)/, \1 loss/')"
  for loop in rust-sync python-sync rust-pipelined python-pipelined; do
    row+=" | $( [ ! -e "$work/$name.$loop.log" ] || latency "$name" "$loop")"
  done
  figures+=("$row |")
done
netem delay 2ms 1ms

echo "== TCP connections reset twice, 2 s apart"
start resets 8 50051
sleep 2
laptop ss -K dst 10.77.0.1 >/dev/null
sleep 2
laptop ss -K dst 10.77.0.1 >/dev/null
finish resets

stalls=()
for seconds in 3 30; do
  echo "== a ${seconds} s blackout"
  start "blackout-$seconds" $((seconds + 12)) 50051
  sleep 2
  down=$(blackout "$seconds")
  finish "blackout-$seconds"
  stall=$(awk -v pause="$(pause "blackout-$seconds")" -v down="$down" 'BEGIN { printf "%.2f", pause - down }')
  stalls+=("$seconds s: $stall s")
done

echo "== the laptop sleeps: every loop stopped (SIGSTOP) for 8 s, past the 5 s lease"
start suspend 14 50051
sleep 2
read -r -a asleep <<< "$(loop_pids | tr '\n' ' ')"
kill -STOP "${asleep[@]}"
sleep 8
kill -CONT "${asleep[@]}"
finish suspend

echo "== a 12 s blackout, beyond a 4 s resume window: each loop gets the error that says so"
start beyond 30 50052 --expect-lost
sleep 2
blackout 12 >/dev/null
finish beyond

echo "== figures (under emulation: the first row is what a call costs there)"
printf '%s\n' "${figures[@]}"
echo "The longest pause between two answers, past the blackout itself (the most of the four loops):"
echo "${stalls[*]}"
echo "NETWORK-PASSED"
