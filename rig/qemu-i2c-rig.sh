#!/usr/bin/env bash
# Boots a real Debian kernel under QEMU (q35, TCG) with a real I2C/SMBus stack, runs one shell
# command in the guest, and powers off. The real-kernel tests of the Linux backend run here.
#
# usage: qemu-i2c-rig.sh [-b FILE]... [-f PORT]... [-s ADDRS] [-r] [-m MB] [-t SECS] [-H 'host cmd'] 'guest cmd'
#   -b FILE   copy FILE into the guest's /bin (its shared libraries come along)
#   -f PORT   forward host 127.0.0.1:PORT to guest port PORT (user networking, guest 10.0.2.15)
#   -s ADDRS  i2c-stub chip addresses (default 0x1c,0x50; '' for no stub)
#   -r        add an ATI rv100 with radeonfb: bit-banged buses with plain I2C (I2C_RDWR) and an
#             EDID EEPROM at 0x50 on "radeonfb dvi"
#   -H CMD    run CMD on the host once the guest command has started, then stop the guest;
#             the exit status is CMD's. $RIG_LOG names the guest's console log meanwhile.
#   -t SECS   overall timeout (default 240)
#   -n        networks to break: veth and netem loaded, two CPUs, and the host's root shared
#             read-only at /host (9p), so that the host's programs run in the guest, chrooted
#             there with /proc, /sys, /dev and a writable /run of the guest's own (scratch space:
#             TMPDIR=/run/tmp). Netem is the reason: this rig's Debian kernel has it, where a
#             host's kernel may not.
#   -g        GPIO lines: gpio-sim, which Debian's 6.1 kernel lacks, built once against the
#             kernel's headers from the matching linux-source (with irq_sim, which it lacks too,
#             linked in), and one simulated chip "rig-gpio" of 8 lines named rig-0..rig-7, whose
#             line 7 the kernel holds (a hog, "rig-hog", output high). The guest's /bin/gpiosim
#             drives an input from outside: `gpiosim OFFSET pull-up|pull-down`, or prints an
#             output's level: `gpiosim OFFSET`. libgpiod v2's tools (gpiodetect, gpioinfo,
#             gpioget, gpioset, gpiomon, gpionotify) come from Debian 13, with its C library
#             beside them in /opt/gpiod.
# The guest also has /dev/cuse (fuse and cuse loaded), for smbus-proxy attach.
# Guest buses: i2c-0 "SMBus I801 adapter at 0700" (SPD EEPROMs at 0x50-0x57, 256 writable bytes
# each); "SMBus stub driver" (i2c-stub, every functionality). With -r the radeonfb buses come
# between them, so look buses up by name, never by number.
#
# Needs root for apt-get the first time (qemu-system-x86, busybox-static, the kernel package).
# Gotchas: nested KVM hangs in SeaBIOS here, so TCG only (a boot takes ~10 s); lm75/jc42 are
# not loaded because their probing of the idle radeonfb buses costs ~10 s.
set -euo pipefail
CACHE=${SMBUS_PROXY_RIG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/smbus-proxy-rig}
EXTRA=(); FWD=(); STUB=0x1c,0x50; RADEON=0; MEM=512; TMO=240; HOSTCMD=; NETEM=0; GPIO=0
while getopts "b:f:s:rngm:t:H:" o; do case $o in
  b) EXTRA+=("$OPTARG");; f) FWD+=("$OPTARG");; s) STUB=$OPTARG;; r) RADEON=1;; n) NETEM=1;; g) GPIO=1;;
  m) MEM=$OPTARG;; t) TMO=$OPTARG;; H) HOSTCMD=$OPTARG;; *) sed -n '2,20p' "$0"; exit 2;; esac; done
shift $((OPTIND-1)); GCMD=${*:-"i2cdetect -l"}
mkdir -p "$CACHE/debs"

# ---- 1. what the rig needs, once ----
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -x /bin/busybox ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends qemu-system-x86 busybox-static >/dev/null
fi
if [ ! -f "$CACHE/kernel.stamp" ]; then
  echo "RIG: fetching Debian's kernel and i2c-tools packages into $CACHE (once)"
  ( cd "$CACHE/debs"
    kpkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
    KPKG=$(kpkg); [ -n "$KPKG" ] || { apt-get update -q >/dev/null; KPKG=$(kpkg); }
    apt-get download -q "$KPKG" i2c-tools libi2c0 2>&1 | grep -v 'Download is performed unsandboxed' || true
    rm -rf "$CACHE/k" "$CACHE/i2ct"; mkdir -p "$CACHE/k" "$CACHE/i2ct"
    dpkg -x "$KPKG"_*_amd64.deb "$CACHE/k"
    dpkg -x i2c-tools_*.deb "$CACHE/i2ct"; dpkg -x libi2c0_*.deb "$CACHE/i2ct" )
  touch "$CACHE/kernel.stamp"
fi
KV=$(ls "$CACHE/k/lib/modules" | head -1); MD=$CACHE/k/lib/modules/$KV/kernel
[ $GPIO = 1 ] && "$(dirname "$0")/gpio-sim.sh" "$CACHE" "$KV"

# ---- 2. the initramfs: busybox, modules, i2c-tools, the files asked for ----
T=$(mktemp -d); LOG=$(mktemp); INITRD=$(mktemp --suffix=.cpio.gz); QPID=
cleanup() { [ -n "$QPID" ] && kill "$QPID" 2>/dev/null || true; rm -rf "$T" "$LOG" "$INITRD"; }
trap cleanup EXIT
mkdir -p "$T"/{bin,lib/modules,lib64,lib/x86_64-linux-gnu,usr/sbin}
cp /bin/busybox "$T/bin/"
MODS="i2c/i2c-smbus i2c/busses/i2c-i801 i2c/i2c-dev i2c/i2c-stub misc/eeprom/at24 misc/eeprom/ee1004 net/ethernet/intel/e1000/e1000"
[ $RADEON = 1 ] && MODS="$MODS i2c/algos/i2c-algo-bit video/fbdev/core/fb_ddc video/fbdev/aty/radeonfb"
for m in $MODS; do cp "$MD/drivers/$m.ko" "$T/lib/modules/"; done
NETMODS="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev
  drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci fs/netfs/netfs fs/fscache/fscache
  net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p drivers/net/veth net/sched/sch_netem net/ipv4/inet_diag
  net/ipv4/tcp_diag"
[ $NETEM = 1 ] && for m in $NETMODS; do cp "$MD/$m.ko" "$T/lib/modules/"; done
# FUSE and CUSE, for character devices in user space (smbus-proxy attach).
cp "$MD/fs/fuse/fuse.ko" "$MD/fs/fuse/cuse.ko" "$T/lib/modules/"
if [ $GPIO = 1 ]; then
  cp "$MD/fs/configfs/configfs.ko" "$CACHE/gpio/gpio-sim.ko" "$T/lib/modules/"
  mkdir -p "$T/opt"; cp -r "$CACHE/gpio/gpiod" "$T/opt/gpiod"
  for t in gpiodetect gpioinfo gpioget gpioset gpiomon gpionotify; do
    printf '#!/bin/sh\nexec /opt/gpiod/ld-linux-x86-64.so.2 --library-path /opt/gpiod --argv0 %s /opt/gpiod/%s "$@"\n' \
      $t $t > "$T/usr/sbin/$t"
    chmod +x "$T/usr/sbin/$t"
  done
  cat > "$T/bin/gpiosim" <<'SIM'
#!/bin/sh
# gpiosim OFFSET [pull-up|pull-down]: drive the rig chip's line from outside, or print its level.
d=$(ls -d /sys/devices/platform/gpio-sim.0/gpiochip*/sim_gpio$1)
if [ -n "$2" ]; then echo "$2" > $d/pull; else cat $d/value; fi
SIM
  chmod +x "$T/bin/gpiosim"
fi
cp "$CACHE"/i2ct/usr/sbin/i2c{detect,dump,get,set,transfer} "$T/usr/sbin/"
copylibs() { ldd "$1" 2>/dev/null | grep -o '/[^ ]*' | while read -r l; do
  case $l in */ld-linux*) cp -Ln "$l" "$T/lib64/";; *) cp -Ln "$l" "$T/lib/x86_64-linux-gnu/";; esac; done || true; }
cp -L "$CACHE"/i2ct/usr/lib/x86_64-linux-gnu/libi2c.so.0 "$T/lib/x86_64-linux-gnu/"
LD_LIBRARY_PATH="$CACHE/i2ct/usr/lib/x86_64-linux-gnu" copylibs "$CACHE/i2ct/usr/sbin/i2cdetect"
for f in ${EXTRA[@]+"${EXTRA[@]}"}; do cp -L "$f" "$T/bin/"; copylibs "$f"; done
printf '%s\n' "$GCMD" > "$T/cmd.sh"
cat > "$T/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mkdir -p /proc /sys /dev /tmp /run /root
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
# i2c-i801 needs i2c-smbus first; i2c-algo-bit and fb_ddc before radeonfb.
for m in i2c-smbus i2c-i801 i2c-dev at24 ee1004 e1000 i2c-algo-bit fb_ddc radeonfb fuse cuse; do
  [ -f /lib/modules/\$m.ko ] && { insmod /lib/modules/\$m.ko || echo "RIG: insmod \$m failed"; }
done
# In the order they need each other.
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache \
  9pnet 9pnet_virtio 9p veth sch_netem inet_diag tcp_diag; do
  [ -f /lib/modules/\$m.ko ] && { insmod /lib/modules/\$m.ko || echo "RIG: insmod \$m failed"; }
done
if [ $NETEM = 1 ]; then
  mkdir -p /host && mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose host /host
  # What udev would make, for bash's process substitution and the like.
  ln -s /proc/self/fd /dev/fd; ln -s fd/0 /dev/stdin; ln -s fd/1 /dev/stdout; ln -s fd/2 /dev/stderr
  for d in proc sys dev; do mount --bind /\$d /host/\$d; done
  # The host's /tmp stays visible (a checkout may live there); scratch space is /run/tmp.
  mount -t tmpfs run /host/run
  mkdir -p /host/run/tmp
fi
if [ -f /lib/modules/gpio-sim.ko ]; then
  insmod /lib/modules/configfs.ko; insmod /lib/modules/gpio-sim.ko || echo "RIG: insmod gpio-sim failed"
  mkdir -p /sys/kernel/config; mount -t configfs none /sys/kernel/config
  c=/sys/kernel/config/gpio-sim/rig; mkdir -p \$c/bank0
  echo rig-gpio > \$c/bank0/label; echo 8 > \$c/bank0/num_lines
  for i in 0 1 2 3 4 5 6 7; do mkdir \$c/bank0/line\$i; echo rig-\$i > \$c/bank0/line\$i/name; done
  mkdir \$c/bank0/line7/hog; echo rig-hog > \$c/bank0/line7/hog/name; echo output-high > \$c/bank0/line7/hog/direction
  echo 1 > \$c/live || echo "RIG: gpio-sim chip failed"
fi
[ -n "$STUB" ] && { insmod /lib/modules/i2c-stub.ko chip_addr=$STUB functionality=0xffffffff || echo "RIG: insmod i2c-stub failed"; }
ip link set lo up
if ip link set eth0 up 2>/dev/null; then ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2; fi
echo "RIG: ready after \$(cut -d' ' -f1 /proc/uptime)s"
echo "===RIG-CMD-BEGIN==="
cd /root; sh /cmd.sh; echo "===RIG-CMD-END rc=\$?==="
poweroff -f
INIT
chmod +x "$T/init"
(cd "$T" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 > "$INITRD"

# ---- 3. boot ----
NET=(-nic none); HF=
for p in ${FWD[@]+"${FWD[@]}"}; do HF="$HF,hostfwd=tcp:127.0.0.1:$p-:$p"; done
[ ${#FWD[@]} -gt 0 ] && NET=(-netdev "user,id=n0$HF" -device e1000,netdev=n0,romfile=)
VGA=(); [ $RADEON = 1 ] && VGA=(-vga none -device ati-vga,model=rv100)
SMP=1; HOST=()
[ $NETEM = 1 ] && { SMP=2; HOST=(-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap); }
# Emulated (TCG), the boot alone takes a while; say so, and what the guest says once it is up.
echo "RIG: booting Debian's kernel $KV under QEMU (emulated: 10 s to a minute, by the machine)"
BOOTED=$SECONDS
timeout "$TMO" qemu-system-x86_64 -M q35 -accel tcg -m "$MEM" -smp "$SMP" -no-reboot \
  -display none -monitor none -serial "file:$LOG" ${VGA[@]+"${VGA[@]}"} ${HOST[@]+"${HOST[@]}"} "${NET[@]}" \
  -kernel "$CACHE/k/boot/vmlinuz-$KV" -initrd "$INITRD" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off" </dev/null &
QPID=$!
if [ -n "$HOSTCMD" ]; then
  until grep -q "===RIG-CMD-BEGIN===" "$LOG" 2>/dev/null; do
    kill -0 $QPID 2>/dev/null || { cat "$LOG"; echo "RIG: the guest died before its command" >&2; exit 1; }
    sleep 0.2
  done
  echo "RIG: the guest is up after $((SECONDS - BOOTED)) s; the host's tests run against it"
  set +e; RIG_LOG="$LOG" bash -c "$HOSTCMD"; RC=$?; set -e
  sleep 0.5; kill $QPID 2>/dev/null || true; wait $QPID 2>/dev/null || true; QPID=
  sed -n '/===RIG-CMD-BEGIN===/,$p' "$LOG" | sed '1d' | tr -d '\r' | sed 's/^/guest| /'
  exit $RC
fi
# What the guest's command prints, as it prints it (a long command is not a silent one).
tail -n +1 -F --pid=$QPID "$LOG" 2>/dev/null | sed -u 's/\r$//' | sed -u -n '/===RIG-CMD-BEGIN===/,/===RIG-CMD-END/{//!p}' &
SHOW=$!
set +e; wait $QPID; QRC=$?; set -e; QPID=
wait $SHOW 2>/dev/null || true
grep "RIG: insmod" "$LOG" >&2 || true
if [ $QRC = 124 ]; then echo "RIG: timeout after ${TMO}s" >&2; tail -20 "$LOG" >&2; exit 124; fi
GRC=$(tr -d '\r' < "$LOG" | sed -n 's/.*===RIG-CMD-END rc=\([0-9]*\)===.*/\1/p')
[ -n "$GRC" ] || { echo "RIG: the guest did not finish (qemu rc=$QRC)" >&2; tail -30 "$LOG" >&2; exit 1; }
exit "$GRC"
