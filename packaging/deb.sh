#!/usr/bin/env bash
# The Debian package: builds it with the README's own commands, as printed (for this machine's
# architecture, and for arm64 when that cross toolchain is installed), on the tree as it is
# checked out: nothing is made beforehand. Then checks its files, control data and maintainer
# scripts, installs it into a scratch root with dpkg, runs the installed binary there, and has
# lintian check it.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "packaging/deb.sh: $*" >&2; exit 1; }
target=${CARGO_TARGET_DIR:-target}

echo "cargo deb --locked -p smbus-proxy (a release build: a few minutes the first time)"
deb=$(cargo deb --locked -p smbus-proxy | tail -1)
[ -f "$deb" ] || fail "cargo deb made no package"
echo "built $deb"

# What it installs.
files=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/smbus-proxy ./etc/smbus-proxy/serve.toml ./usr/lib/systemd/system/smbus-proxy.service \
  ./usr/share/man/man1/smbus-proxy.1.gz ./usr/share/doc/smbus-proxy/copyright \
  ./usr/share/doc/smbus-proxy/changelog.Debian.gz ./usr/share/doc/smbus-proxy/examples/policy.toml \
  ./usr/share/smbus-proxy/lab/lab.toml ./usr/share/smbus-proxy/lab/si4703.trace; do
  grep -qx -- "$f" <<<"$files" || fail "the package lacks $f; it has: $files"
done
# The page is the committed one, compressed as Debian's policy asks.
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/man/man1/smbus-proxy.1.gz | gzip -dc | cmp -s - packaging/smbus-proxy.1 ||
  fail "the manual page in the package is not packaging/smbus-proxy.1"
control=$(mktemp -d); root=$(mktemp -d); trap 'rm -rf "$control" "$root"' EXIT
dpkg-deb -e "$deb" "$control"
grep -qx "/etc/smbus-proxy/serve.toml" "$control/conffiles" || fail "serve.toml is not a conffile"
grep -q "^Depends:.*adduser" "$control/control" || fail "it does not depend on adduser"
grep -q "adduser --quiet --system" "$control/postinst" || fail "postinst makes no system user"
grep -q "getent group i2c" "$control/postinst" || fail "postinst does not make group i2c"
grep -q "deb-systemd-helper enable" "$control/postinst" || fail "postinst does not enable the service"
grep -q "deb-systemd-invoke stop" "$control/prerm" || fail "prerm does not stop the service"

# Installed into a scratch root (unpacked: configuring would run postinst, which makes a user
# on this machine), then run from there.
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status"
dpkg --root="$root" --force-depends --force-not-root --unpack "$deb" >/dev/null
version=$("$root/usr/bin/smbus-proxy" --version)
[ "$version" = "smbus-proxy $("$target/release/smbus-proxy" --version | cut -d' ' -f2)" ] || fail "installed: $version"
# As shipped, its configuration serves (here the simulator, on a free port) and a client sees it.
# Unpacked, the conffile waits beside its place until dpkg configures the package.
config="$root/etc/smbus-proxy/serve.toml.dpkg-new"
[ -f "$config" ] || fail "no $config"
log=$(mktemp)
"$root/usr/bin/smbus-proxy" serve --config "$config" --simulate --listen 127.0.0.1:0 2>"$log" &
server=$!
for _ in $(seq 50); do grep -q "server started" "$log" && break; sleep 0.1; done
addr=$(sed -n 's/.*server started.*addr=\([^ ]*\).*/\1/p' "$log")
"$root/usr/bin/smbus-proxy" get --server "http://$addr" -y 1 0x48 0x00 >/dev/null || fail "the installed binary does not serve"
kill "$server"; wait "$server" 2>/dev/null || true
echo "installed into a scratch root: $version, serving from its /etc/smbus-proxy/serve.toml"
# The packaged lab starts as it is, its replayed Si4703 (bus 3, from the trace beside it) included.
"$root/usr/bin/smbus-proxy" serve --simulate "$root/usr/share/smbus-proxy/lab/lab.toml" --listen 127.0.0.1:0 2>"$log" &
server=$!
for _ in $(seq 50); do grep -q "server started" "$log" && break; sleep 0.1; done
addr=$(sed -n 's/.*server started.*addr=\([^ ]*\).*/\1/p' "$log")
[ -n "$addr" ] || fail "the packaged lab does not start: $(cat "$log")"
"$root/usr/bin/smbus-proxy" get --server "http://$addr" -y 3 0x10 0x0a w >/dev/null ||
  fail "the packaged lab's replayed Si4703 does not answer"
kill "$server"; wait "$server" 2>/dev/null || true; rm -f "$log"
echo "its lab (/usr/share/smbus-proxy/lab/lab.toml) serves, the trace it replays included"

echo "lintian:"
lintian --fail-on error "$deb" || fail "lintian reports errors"

# For a 64-bit Raspberry Pi, when the cross toolchain is here: the README's command.
if command -v aarch64-linux-gnu-gcc >/dev/null && rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu; then
  echo "cargo deb --locked -p smbus-proxy --target aarch64-unknown-linux-gnu"
  arm=$(cargo deb --locked -p smbus-proxy --target aarch64-unknown-linux-gnu | tail -1)
  [ "$(dpkg-deb -f "$arm" Architecture)" = arm64 ] || fail "$arm is not an arm64 package"
  # Unpacked whole, not read through a pipe that closes early: pipefail counts the SIGPIPE.
  unpacked=$(mktemp -d)
  dpkg-deb -x "$arm" "$unpacked"
  [ -f "$unpacked/usr/bin/smbus-proxy" ] || fail "$arm lacks the command"
  # The ELF header's e_machine: 0xb7 is EM_AARCH64.
  machine=$(od -An -tx1 -j18 -N2 "$unpacked/usr/bin/smbus-proxy" | tr -d ' ')
  rm -rf "$unpacked"
  [ "$machine" = b700 ] || fail "the command in $arm is for ELF machine $machine, not aarch64"
  echo "built $arm; lintian:"
  lintian --fail-on error "$arm" || fail "lintian reports errors in $arm"
else
  echo "SKIPPED the arm64 package: it needs gcc-aarch64-linux-gnu and the aarch64-unknown-linux-gnu target"
fi
