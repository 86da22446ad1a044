#!/usr/bin/env bash
# Discovery (DNS-SD) between a server and its clients on a network of two hosts made for the
# test: network namespaces "pi" and "laptop", joined by a veth pair, so that no packet leaves
# them. On the pi: servers on the network (one plain, one with TLS and a token), one on
# loopback and one with --no-announce. On the laptop: `smbus-proxy servers` must list the
# two announced ones and nothing else, and the tools, the Rust client and the Python package
# must reach them by name (mdns://NAME).
#
# Usage: tests/discovery.sh [PYTHON], after `cargo build -p smbus-proxy -p smbus-proxy-client
# --bins --examples` (with --release for SMBUS_PROXY_PROFILE=release); PYTHON has the
# smbus_proxy package (skipped without it). Needs
# unshare, nsenter, ip and openssl; runs as root or where user namespaces are allowed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1-}" != inside ]; then
  python=${1-}
  for tool in unshare nsenter ip openssl; do
    if ! command -v "$tool" >/dev/null; then
      echo "SKIPPED discovery (tests/discovery.sh): it needs $tool"
      [ -z "${CI-}" ] || exit 1
      exit 0
    fi
  done
  if ! unshare -rnu true 2>/dev/null; then
    echo "SKIPPED discovery (tests/discovery.sh): this machine allows no network namespace here (run as root)"
    [ -z "${CI-}" ] || exit 1
    exit 0
  fi
  # A user namespace (root in it, nobody outside), its own network (the pi's) and its own
  # host name, so that the certificate can name the host the server announces.
  exec unshare -rnu "$0" inside "$python"
fi

python=${2-}
# The figures it prints are the release build's with SMBUS_PROXY_PROFILE=release.
profile=$(realpath -m "${CARGO_TARGET_DIR:-target}/${SMBUS_PROXY_PROFILE:-debug}")
bin=$profile/smbus-proxy
example=$profile/examples/read_loop
work=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "discovery: FAILED: $*" >&2
  for log in "$work"/*.log; do
    echo "--- $log" >&2
    cat "$log" >&2
  done
  exit 1
}

hostname raspberrypi
ip link set lo up
# The laptop: a network namespace of its own, held open by a process in it.
unshare -n sleep 600 &
laptop_pid=$!
pids+=("$laptop_pid")
while [ "$(readlink /proc/$laptop_pid/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.01; done
ip link add name eth0 type veth peer name eth0 netns "$laptop_pid"
ip addr add 10.77.0.1/24 dev eth0
ip link set eth0 multicast on up
laptop() { nsenter -t "$laptop_pid" -n "$@"; }
laptop sh -c 'ip link set lo up && ip addr add 10.77.0.2/24 dev eth0 && ip link set eth0 multicast on up'

# A CA, a certificate it signs for the host the pi announces, and a token.
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key "$work/ca.key"
key "$work/key.pem"
openssl req -x509 -key "$work/ca.key" -days 1 -subj "/CN=lab CA" -out "$work/ca.pem" 2>/dev/null
certificate() { # FILE DNS-NAME: a certificate the CA signs for that name, with key.pem's key
  openssl req -new -key "$work/key.pem" -subj "/CN=$2" 2>/dev/null |
    openssl x509 -req -CA "$work/ca.pem" -CAkey "$work/ca.key" -days 1 -out "$1" \
      -extfile <(printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\n' "$2") 2>/dev/null
}
certificate "$work/cert.pem" raspberrypi.local
certificate "$work/other.pem" elsewhere.local
echo "lab-secret" > "$work/token"

serve() {
  local log=$1
  shift
  "$bin" serve --simulate "$@" 2> "$work/$log.log" &
  pids+=($!)
}
serve plain --listen 0.0.0.0:50051 --insecure-network --announce-name "lab pi"
plain_pid=${pids[-1]}
serve secure --listen 10.77.0.1:50052 --token-file "$work/token" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
serve loopback --listen 127.0.0.1:50053
# --announce-name with --no-announce is refused: one says the opposite of the other.
if "$bin" serve --simulate --no-announce --announce-name quiet 2> "$work/refused.log"; then
  fail "--no-announce with --announce-name was accepted"
fi
grep -q "cannot be used with" "$work/refused.log" || fail "--no-announce with --announce-name: $(cat "$work/refused.log")"
serve quiet --listen 0.0.0.0:50054 --insecure-network --no-announce
quiet_pid=${pids[-1]}

# The servers are up once they answer; announcing takes its probes (about 0.75 s) on top.
for port in 50051 50053 50054; do
  for _ in $(seq 100); do
    "$bin" detect -l --server "127.0.0.1:$port" >/dev/null 2>&1 && break
    sleep 0.05
  done
done
sleep 1.5
grep -q "not announced on the network (DNS-SD): the server listens on loopback only" "$work/loopback.log" ||
  fail "the loopback server did not say it is not announced"
grep -q "announced on the network" "$work/quiet.log" && fail "--no-announce announced"

# What the laptop finds, and how long it takes.
start=$(date +%s%N)
laptop "$bin" servers > "$work/servers.out" 2> "$work/servers.log" || fail "smbus-proxy servers failed"
took=$((($(date +%s%N) - start) / 1000000))
cat "$work/servers.out"
expected="NAME         ADDRESS    PORT   BUSES  SECURITY   VERSION
lab pi       10.77.0.1  50051  1      none       $("$bin" --version | cut -d' ' -f2)
raspberrypi  10.77.0.1  50052  1      tls+token  $("$bin" --version | cut -d' ' -f2)"
[ "$(cat "$work/servers.out")" = "$expected" ] || fail "servers listed, expected:
$expected"
echo "discovery: servers listed in $took ms (it listens for 1500 ms)"

# What a name costs: `get` (a process, a connection, one read) by address and by name, each
# 1.1 s after the last, since a server answers a record at most once a second (RFC 6762 §6).
# And what announcing costs the server at rest.
get_ms() { # SERVER: the milliseconds one `get` takes
  local start
  start=$(date +%s%N)
  [ "$(laptop "$bin" get -y --server "$1" 1 0x48 0x00)" = 0x00 ] || fail "get from $1 failed"
  echo $((($(date +%s%N) - start) / 1000000))
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rss() { awk '/^VmRSS/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$1/status"; }
echo "discovery: idle RSS $(rss "$plain_pid") announcing, $(rss "$quiet_pid") with --no-announce"
by_address=$(for _ in 1 2 3; do get_ms 10.77.0.1:50051; sleep 1.1; done | median)
by_name=$(for _ in 1 2 3; do get_ms "mdns://lab pi"; sleep 1.1; done | median)
echo "discovery: get by address $by_address ms, by name $by_name ms (medians of 3)"

# By name, with every client: the tools...
laptop "$bin" set -y --server "mdns://LAB PI" 1 0x48 0x02 0x5a || fail "set by name (in capitals) failed"
value=$(laptop env SMBUS_PROXY_SERVER="mdns://lab pi" "$bin" get -y 1 0x48 0x02) || fail "get by \$SMBUS_PROXY_SERVER failed"
[ "$value" = 0x5a ] || fail "get by \$SMBUS_PROXY_SERVER read $value, not what set wrote"
# ...over TLS, the certificate checked against the announced host (not the address)...
value=$(laptop "$bin" get -y --server mdns://raspberrypi --ca "$work/ca.pem" --token-file "$work/token" 1 0x48 0x02) ||
  fail "get over TLS by name failed"
[ "$value" = 0x00 ] || fail "get over TLS by name read $value"
# A certificate for another name is refused, though the CA signed it: what is checked is the
# host the server announced. Errors name the server as given and where it was found.
serve impostor --listen 10.77.0.1:50055 --token-file "$work/token" --tls-cert "$work/other.pem" \
  --tls-key "$work/key.pem" --announce-name impostor
if laptop "$bin" get -y --server mdns://impostor --ca "$work/ca.pem" --token-file "$work/token" 1 0x48 0x02 \
  2> "$work/impostor.out"; then
  fail "a certificate for elsewhere.local was accepted for raspberrypi.local"
fi
grep -q "cannot connect to mdns://impostor (https://10.77.0.1:50055): .*certificate not valid for name \"raspberrypi.local\"" "$work/impostor.out" ||
  fail "the impostor's refusal said: $(cat "$work/impostor.out")"
# A .local name where nothing resolves them (no nss-mdns in here; and no DNS server is reachable
# from these namespaces, so the lookup sends nothing out): the error points to mdns://.
if laptop "$bin" get -y --server nosuchpi.local 1 0x48 0x02 2> "$work/local.out"; then
  fail "nosuchpi.local was found"
fi
grep -q "cannot look up nosuchpi.local: .*\. Where .local names do not resolve .* mdns://nosuchpi finds a server" \
  "$work/local.out" || fail "an unresolved .local name said: $(cat "$work/local.out")"
# ...the Rust client library...
laptop "$example" "mdns://lab pi" 1 0x48 20 > "$work/example.out" || fail "the Rust example by name failed"
grep -q "(20 calls)" "$work/example.out" || fail "the Rust example printed $(cat "$work/example.out")"
# ...and the Python package.
if [ -n "$python" ]; then
  value=$(laptop env SMBUS_PROXY_SERVER="mdns://lab pi" "$python" -c '
from smbus_proxy import SMBus
with SMBus(1) as bus:
    print(hex(bus.read_byte_data(0x48, 0x02)))
') || fail "Python by name failed"
  [ "$value" = 0x5a ] || fail "Python by name read $value"
  laptop "$python" -c '
from smbus_proxy import SMBus
with SMBus(1, server="mdns://raspberrypi", token="lab-secret", ca="'"$work/ca.pem"'") as bus:
    bus.read_byte_data(0x48, 0x02)
' || fail "Python over TLS by name failed"
else
  echo "SKIPPED discovery from Python: no interpreter with smbus_proxy given"
fi

# A name nobody answers to says who did.
if laptop "$bin" get -y --server mdns://nobody 1 0x48 0 2> "$work/nobody.log"; then
  fail "mdns://nobody connected"
fi
grep -q "no smbus-proxy server named \`nobody\` answered on this machine's networks within 3 s; those that did: impostor, lab pi, raspberrypi" \
  "$work/nobody.log" || fail "mdns://nobody said: $(cat "$work/nobody.log")"

# A second server that asks for a name already taken probes first, hears the owner, and takes
# the next one.
serve twin --listen 0.0.0.0:50056 --insecure-network --announce-name raspberrypi
sleep 1.5
grep -q "another server on the network has this name; announced under the new one" "$work/twin.log" ||
  fail "the twin did not rename itself: $(cat "$work/twin.log")"
laptop "$bin" servers > "$work/twin.out" 2>&1 || fail "servers with the twin failed"
grep -q "^raspberrypi (2) " "$work/twin.out" || fail "the twin is not listed as raspberrypi (2): $(cat "$work/twin.out")"

# A peer on the link floods the multicast group with responses: 10,000 packets of 40 A
# records, each name new. The responder keeps nothing of others' records, so the server's
# memory does not move (mdns-sd's cache grew from 9.7 to 158 MB).
pyrun=${python:-python3}
kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
before=$(kib "$plain_pid")
laptop "$pyrun" - <<'PY' || fail "the flood could not be sent"
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("10.77.0.2"))
def name(*labels):
    return b"".join(bytes([len(l)]) + l.encode() for l in labels) + b"\0"
for i in range(10000):
    records = b"".join(
        name(f"flood{i}x{j}", "local") + struct.pack(">HHIH", 1, 0x8001, 120, 4) + bytes([10, 9, j, i % 250])
        for j in range(40)
    )
    s.sendto(struct.pack(">6H", 0, 0x8400, 0, 40, 0, 0) + records, ("224.0.0.251", 5353))
PY
sleep 1
after=$(kib "$plain_pid")
echo "discovery: 10,000 responses of 40 new records each: server RSS $before KiB before, $after KiB after"
[ $((after - before)) -lt 4096 ] || fail "the flood grew the server by $((after - before)) KiB"

# Queries from beyond the link are not answered (RFC 6762 §5.5, §11): 200 legacy unicast
# queries from 192.0.2.5, routed to the pi through the laptop, get no answer; the same query
# from the laptop's own address on the link does.
ip route add 192.0.2.0/24 via 10.77.0.2
laptop ip addr add 192.0.2.5/32 dev eth0
answers=$(laptop "$pyrun" - <<'PY'
import socket, struct
def name(*labels):
    return b"".join(bytes([len(l)]) + l.encode() for l in labels) + b"\0"
query = struct.pack(">6H", 0x1234, 0, 1, 0, 0, 0) + name("_smbus-proxy", "_tcp", "local") + struct.pack(">HH", 12, 1)
def count(source, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.settimeout(0.5)
    for _ in range(n):
        s.sendto(query, ("10.77.0.1", 5353))
    got = 0
    try:
        while True:
            s.recv(9000)
            got += 1
    except socket.timeout:
        return got
print(count("192.0.2.5", 200), count("10.77.0.2", 1))
PY
) || fail "the off-link queries could not be sent"
echo "discovery: 200 queries from beyond the link answered $(echo "$answers" | cut -d' ' -f1) times; from the link $(echo "$answers" | cut -d' ' -f2)"
[ "$answers" = "0 1" ] || fail "answers from beyond the link, and from it: $answers (expected 0 1)"
laptop ip addr del 192.0.2.5/32 dev eth0
ip route del 192.0.2.0/24 via 10.77.0.2

# A server that stops says goodbye: the next search no longer lists it.
kill -TERM "$plain_pid"
wait "$plain_pid" || true
laptop "$bin" servers --wait 1500 > "$work/after.out" 2>&1 || fail "servers after the stop failed: $(cat "$work/after.out")"
grep -q "lab pi" "$work/after.out" && fail "a stopped server is still listed: $(cat "$work/after.out")"
grep -q "^raspberrypi " "$work/after.out" || fail "the other server went missing: $(cat "$work/after.out")"
echo "discovery: OK"
