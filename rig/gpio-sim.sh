#!/usr/bin/env bash
# Real GPIO character-device lines for the rig (qemu-i2c-rig.sh -g), made once into CACHE/gpio:
#   gpio-sim.ko  the kernel's GPIO simulator, which Debian builds no module of for 6.1: its
#                source from Debian's linux-source of the same version, built out of tree
#                against linux-headers-KV, with the kernel's irq_sim (not built into 6.1 either)
#                linked into the same module
#   gpiod/       libgpiod v2's tools from Debian 13 (Debian 12 has only v1's), with that
#                release's C library and loader, which they need and the rig's guest runs them on
#
# usage: gpio-sim.sh CACHE KV     (needs root the first time: apt-get installs the headers)
set -euo pipefail
CACHE=$1 KV=$2
OUT=$CACHE/gpio
[ -f "$OUT/stamp-$KV" ] && exit 0
echo "RIG: building gpio-sim for $KV and fetching libgpiod v2's tools into $OUT (once)"
rm -rf "$OUT"; mkdir -p "$OUT/src" "$OUT/debs" "$OUT/gpiod"
export DEBIAN_FRONTEND=noninteractive
quiet() { grep -v 'Download is performed unsandboxed' || true; }

# ---- gpio-sim.ko ----
if [ ! -d "/usr/src/linux-headers-$KV" ]; then
  apt-get install -y -q --no-install-recommends "linux-headers-$KV" >/dev/null
fi
# The kernel package's version names the source package's: linux-image-6.1.0-57-amd64 6.1.192-3.
VER=$(dpkg-deb -f "$CACHE"/debs/linux-image-"$KV"_*.deb Version)
SRCPKG=linux-source-$(echo "$KV" | cut -d. -f1,2)
( cd "$OUT/debs" && apt-get download -qq "$SRCPKG=$VER" 2>&1 | quiet )
dpkg-deb --fsys-tarfile "$OUT"/debs/"$SRCPKG"_*.deb | tar -xO "./usr/src/$SRCPKG.tar.xz" | xz -dc |
  tar -x -C "$OUT/src" --strip-components=3 \
    "$SRCPKG/drivers/gpio/gpio-sim.c" "$SRCPKG/drivers/gpio/gpiolib.h" "$SRCPKG/kernel/irq/irq_sim.c"
rm -f "$OUT"/debs/"$SRCPKG"_*.deb
cd "$OUT/src"
mv gpio-sim.c gpio-sim-main.c
# irq_sim calls irq_to_desc, which modules may not; generic_handle_irq does the same through
# the handler irq_sim itself installed (handle_simple_irq), and is exported.
grep -q 'handle_simple_irq(irq_to_desc(irqnum));' irq_sim.c
sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' irq_sim.c
printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-main.o irq_sim.o\n' > Kbuild
make -s -C "/usr/src/linux-headers-$KV" M="$PWD" modules 2>&1 | grep -v "Skipping BTF" || true
cp gpio-sim.ko "$OUT/"

# ---- libgpiod v2's tools, from Debian 13 on this machine's own mirror ----
APT=$OUT/apt; mkdir -p "$APT/lists/partial"
URI=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
[ -n "$URI" ] || URI=$(awk '$1 == "deb" && $2 !~ /^\[/ {print $2; exit}' /etc/apt/sources.list)
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $URI trixie main" > "$APT/sources.list"
A=(-o "Dir::Etc::sourcelist=$APT/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::lists=$APT/lists"
   -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
apt-get "${A[@]}" update -qq 2>&1 | grep -v "unsandboxed" || true
( cd "$OUT/debs" && apt-get "${A[@]}" download -qq gpiod libgpiod3 libc6 2>&1 | quiet )
for d in "$OUT"/debs/*.deb; do dpkg -x "$d" "$OUT/x"; done
cp "$OUT"/x/usr/bin/gpio* "$OUT/gpiod/"
cp -L "$OUT"/x/usr/lib/x86_64-linux-gnu/{libgpiod.so.3,libc.so.6} "$OUT"/x/usr/lib64/ld-linux-x86-64.so.2 "$OUT/gpiod/"
rm -rf "$OUT/x" "$OUT/debs" "$APT"
touch "$OUT/stamp-$KV"
