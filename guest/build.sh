#!/usr/bin/env bash
# Builds the Stratus guest image: a small Linux guest made only from Debian packages (the
# Debian kernel, busybox-static and dropbear) that plays the role of a cloud test image. It
# boots with direct kernel boot, takes its address over DHCP, installs the SSH key from the
# EC2 metadata service, runs a `#!` user-data script and powers off on the ACPI power button.
# For volumes it carries mkfs.ext4, e2fsck and resize2fs (e2fsprogs, with their libraries) and
# loads the ext4 and vfat modules on demand (a small modprobe for the kernel to call).
#
#   guest/build.sh [--out DIR] [--force]
#
# Outputs in DIR (default ${STRATUS_GUEST_CACHE:-/var/cache/stratus/guest}):
#   vmlinux     uncompressed kernel, boots through QEMU's PVH entry with -kernel (fastest)
#   bzImage     the Debian kernel as shipped
#   initrd.img  gzip newc initramfs holding the whole guest
#   disk.qcow2  the same guest as a bootable disk (FAT with syslinux, boots through the BIOS):
#               for images without a separate kernel and ramdisk
#   VERSION     e.g. "stratus-guest 0.1 (kernel 6.1.0-56-amd64, Debian 6.1.192-2)"
#   STAMP       hash of this script, guest/init and the package versions used; the build is
#               skipped while it matches
#
# Needs root to install missing host packages and to create /dev/console in the initramfs.
# The kernel package is fetched with apt-get download and unpacked in a temporary directory;
# nothing is installed on the host but the tools listed in HOST_PACKAGES.
set -euo pipefail

GUEST_VERSION=0.2
HOST_PACKAGES=(qemu-system-x86 qemu-utils busybox-static dropbear-bin e2fsprogs cpio xz-utils mtools
  syslinux)
# Modules the guest loads (with their dependencies, resolved from modules.dep, first):
# virtio PCI transport, network, disk, entropy, and the ACPI power button as an input device.
GUEST_MODULES=(virtio_pci virtio_net virtio_blk virtio-rng button evdev)
# Modules loaded only when first needed (the kernel runs /sbin/modprobe, here a script that
# knows these and their dependencies): filesystems for volumes (ext4, with the crc32c it asks
# the crypto API for) and for the FAT root disk. Loading ext4 at every boot would cost time.
DEMAND_MODULES=(crc32c_generic ext4 vfat nls_cp437 nls_ascii nls_utf8)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${STRATUS_GUEST_CACHE:-/var/cache/stratus/guest}
force=0

usage() {
  sed -n '2,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

while [ $# -gt 0 ]; do
  case $1 in
    --out)
      [ $# -ge 2 ] || { echo "build.sh: --out needs a directory" >&2; exit 2; }
      out=$2
      shift 2
      ;;
    --out=*) out=${1#--out=}; shift ;;
    --force) force=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "build.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

log() { printf 'stratus-guest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# Installs the host tools that are missing; `apt-get update` runs only when something is.
ensure_host_packages() {
  local missing=() p
  for p in "${HOST_PACKAGES[@]}"; do
    installed "$p" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); install them or run as root"
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
}

# Prints "PACKAGE VERSION" of the kernel image package that linux-image-amd64 depends on
# (the candidate version, as apt-get download would fetch it).
kernel_package() {
  local show dep ver
  show=$(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null || true)
  if [ -z "$show" ]; then
    [ "$(id -u)" -eq 0 ] || die "apt knows no linux-image-amd64; run apt-get update"
    log "apt lists are empty; running apt-get update"
    apt-get update -qq
    show=$(apt-cache show --no-all-versions linux-image-amd64)
  fi
  dep=$(awk '/^Depends:/ && match($0, /linux-image-[0-9][^ ,]*/) {
    print substr($0, RSTART, RLENGTH); exit }' <<<"$show")
  [ -n "$dep" ] || die "cannot find the kernel package linux-image-amd64 depends on"
  ver=$(apt-cache policy "$dep" | awk '$1 == "Candidate:" { print $2 }')
  [ -n "$ver" ] && [ "$ver" != "(none)" ] || die "no candidate version for $dep"
  printf '%s %s\n' "$dep" "$ver"
}

# Shared libraries (resolved paths) that ldd lists for the given binaries, one a line.
libraries_of() {
  ldd "$@" | awk '
    /:$/ { next }
    /not found/ { print "MISSING " $1; next }
    $2 == "=>" && $3 ~ /^\// { print $3; next }
    $1 ~ /^\// { print $1 }' | sort -u
}

BUSYBOX=/bin/busybox
DROPBEAR=/usr/sbin/dropbear
DROPBEARKEY=/usr/bin/dropbearkey
# From e2fsprogs: make, check and grow ext4 filesystems on volumes.
E2FS_TOOLS=(/sbin/mke2fs /sbin/e2fsck /sbin/resize2fs)

ensure_host_packages
for f in "$BUSYBOX" "$DROPBEAR" "$DROPBEARKEY" "${E2FS_TOOLS[@]}" /etc/mke2fs.conf "$here/init"; do
  [ -e "$f" ] || die "missing $f"
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
# One build at a time per output directory.
exec 9>"$out/.lock"
flock 9

kinfo=$(kernel_package)
read -r kpkg kver <<<"$kinfo"
libinfo=$(libraries_of "$DROPBEAR" "$DROPBEARKEY" "${E2FS_TOOLS[@]}")
mapfile -t libs <<<"$libinfo"
for l in "${libs[@]}"; do
  case $l in MISSING*) die "dropbear needs a library that is not installed: ${l#MISSING }" ;; esac
done

stamp=$(
  {
    echo "guest $GUEST_VERSION"
    sha256sum "${BASH_SOURCE[0]}" "$here/init" | awk '{print $1}'
    echo "kernel $kpkg $kver"
    for p in busybox-static dropbear-bin e2fsprogs syslinux mtools; do
      echo "$p $(dpkg-query -W -f='${Version}' "$p")"
    done
    sha256sum "${libs[@]}" | awk '{print $1}'
  } | sha256sum | awk '{print $1}'
)

outputs=(vmlinux bzImage initrd.img disk.qcow2 VERSION)
if [ $force -eq 0 ] && [ -f "$out/STAMP" ] && [ "$(cat "$out/STAMP")" = "$stamp" ]; then
  complete=1
  for f in "${outputs[@]}"; do [ -s "$out/$f" ] || complete=0; done
  if [ $complete -eq 1 ]; then
    log "up to date: $(cat "$out/VERSION") in $out"
    exit 0
  fi
fi

[ "$(id -u)" -eq 0 ] || die "building needs root (mknod /dev/console for the initramfs)"
log "building in $out ($kpkg $kver)"

tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- kernel -----------------------------------------------------------------------------
# The .deb is kept (one version) so that a change of init alone does not download it again.
debs="$out/.debs"
mkdir -p "$debs"
deb=$(find "$debs" -maxdepth 1 -name "${kpkg}_*.deb" -print -quit)
want="${kpkg}_$(printf '%s' "$kver" | sed 's/:/%3a/')_amd64.deb"
if [ -z "$deb" ] || [ "$(basename "$deb")" != "$want" ]; then
  find "$debs" -maxdepth 1 -name '*.deb' -delete
  log "downloading $kpkg=$kver"
  # apt-get download writes into the current directory; _apt cannot always write there.
  (cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root "$kpkg=$kver")
  deb=$(find "$debs" -maxdepth 1 -name "${kpkg}_*.deb" -print -quit)
  [ -n "$deb" ] || die "apt-get download of $kpkg gave no file"
fi
dpkg-deb -x "$deb" "$tmp/kernel"

kimage=$(find "$tmp/kernel/boot" -maxdepth 1 -name 'vmlinuz-*' -print -quit)
[ -n "$kimage" ] || die "no /boot/vmlinuz-* in $deb"
krel=${kimage##*/vmlinuz-}
moddir=
for d in "$tmp/kernel/lib/modules/$krel" "$tmp/kernel/usr/lib/modules/$krel"; do
  [ -d "$d" ] && moddir=$d && break
done
[ -n "$moddir" ] || die "no modules directory for $krel in $deb"
cp "$kimage" "$tmp/bzImage"

# The bzImage carries the kernel as an xz stream: find the stream's magic and decompress
# from there until the result is an ELF file (the magic may also occur by chance earlier).
extract_vmlinux() {
  local img=$1 dst=$2 off
  while read -r off; do
    # (xz stops reading at the end of the stream; tail then dies of SIGPIPE, harmlessly.)
    if xz -dc --single-stream < <(tail -c "+$((off + 1))" "$img") >"$dst" 2>/dev/null &&
      [ "$(head -c 4 "$dst" | od -An -c | tr -d ' ')" = '177ELF' ]; then
      return 0
    fi
  done < <(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$img" | cut -d: -f1)
  return 1
}
extract_vmlinux "$tmp/bzImage" "$tmp/vmlinux" ||
  die "no xz-compressed ELF kernel found in $kimage"

# --- initramfs --------------------------------------------------------------------------
root="$tmp/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/dropbear,etc/acpi/PWRF,dev,proc,sys,run,tmp} \
  "$root"/{var/log,lib/modules,root/.ssh,usr/share/udhcpc}
ln -s ../run "$root/var/run"
chmod 700 "$root/root" "$root/root/.ssh"
chmod 1777 "$root/tmp"
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3

cp "$BUSYBOX" "$root/bin/busybox"
while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$root/$(dirname "$applet")"
  [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done < <("$BUSYBOX" --list-full)

cp "$DROPBEAR" "$root/usr/sbin/dropbear"
cp "$DROPBEARKEY" "$root/usr/bin/dropbearkey"
# (busybox has a mke2fs applet: its link is replaced, not written through.)
for t in "${E2FS_TOOLS[@]}"; do
  rm -f "$root/sbin/${t##*/}"
  cp "$t" "$root/sbin/"
done
rm -f "$root/sbin/mkfs.ext4" "$root/sbin/fsck.ext4"
ln -s mke2fs "$root/sbin/mkfs.ext4"
ln -s e2fsck "$root/sbin/fsck.ext4"
cp /etc/mke2fs.conf "$root/etc/mke2fs.conf"
for l in "${libs[@]}"; do
  mkdir -p "$root$(dirname "$l")"
  cp -L "$l" "$root$l"
done

# Modules: each is loaded after the ones its .modinfo "depends=" names (resolved depth
# first); modules built into the kernel are skipped.
declare -A modpath=() builtin=() seen=()
while IFS= read -r p; do
  m=${p##*/}
  m=${m%%.ko*}
  modpath[${m//-/_}]=$p
done < <(find "$moddir/kernel" -name '*.ko*')
if [ -f "$moddir/modules.builtin" ]; then
  while IFS= read -r p; do
    m=${p##*/}
    m=${m%.ko}
    builtin[${m//-/_}]=1
  done <"$moddir/modules.builtin"
fi
load_order=()
add_module() {
  local m=${1//-/_} src dst d
  [ -n "${seen[$m]:-}" ] && return 0
  seen[$m]=1
  src=${modpath[$m]:-}
  if [ -z "$src" ]; then
    [ -n "${builtin[$m]:-}" ] && return 0
    die "kernel $krel has no module $1"
  fi
  dst="$root/lib/modules/$m.ko"
  case $src in
    *.ko) cp "$src" "$dst" ;;
    *.ko.xz) xz -dc "$src" >"$dst" ;;
    *.ko.gz) gzip -dc "$src" >"$dst" ;;
    *.ko.zst) zstd -qdc "$src" >"$dst" ;;
    *) die "unknown module format: $src" ;;
  esac
  for d in $(tr '\0' '\n' <"$dst" | sed -n 's/^depends=//p' | tr ',' ' '); do
    add_module "$d"
  done
  load_order+=("$m")
}
for m in "${GUEST_MODULES[@]}"; do add_module "$m"; done
printf '%s\n' "${load_order[@]}" >"$root/etc/modules"
log "modules: ${load_order[*]}"

# On-demand modules: /etc/modules.demand has "MODULE: what to load, in order" (dependencies
# and "softdep pre:" modules first, the module last), /etc/modules.alias "ALIAS MODULE" from
# each module's alias= tags, so that a request for fs-ext4 or crypto-crc32c finds its module.
nboot=${#load_order[@]}
for m in "${DEMAND_MODULES[@]}"; do add_module "$m"; done
demand=("${load_order[@]:$nboot}")
modinfo_of() { tr '\0' '\n' <"$root/lib/modules/$1.ko" | sed -n "s/^$2=//p"; }
declare -A alias_of=()
for m in "${demand[@]}"; do
  alias_of[$m]=$m
  for a in $(modinfo_of "$m" alias | grep -v :); do alias_of[$a]=$m; done
done
demand_closure() {
  local m=$1 d
  [ -n "${dseen[$m]:-}" ] && return 0
  dseen[$m]=1
  for d in $(modinfo_of "$m" softdep | sed 's/^pre: *//'); do
    if [ -n "${alias_of[$d]:-}" ]; then demand_closure "${alias_of[$d]}"; fi
  done
  for d in $(modinfo_of "$m" depends | tr ',' ' '); do
    d=${d//-/_}
    if [ -f "$root/lib/modules/$d.ko" ]; then demand_closure "$d"; fi
  done
  dorder+=("$m")
}
: >"$root/etc/modules.demand"
for m in "${demand[@]}"; do
  declare -A dseen=()
  dorder=()
  demand_closure "$m"
  printf '%s: %s\n' "$m" "${dorder[*]}" >>"$root/etc/modules.demand"
  unset dseen
done
for a in "${!alias_of[@]}"; do printf '%s %s\n' "$a" "${alias_of[$a]}"; done |
  LC_ALL=C sort >"$root/etc/modules.alias"
log "on demand: ${demand[*]}"

cp "$here/init" "$root/init"
chmod 755 "$root/init"

version="stratus-guest $GUEST_VERSION (kernel $krel, Debian $kver)"
printf '%s\n' "$version" >"$root/etc/stratus-release"
printf 'GUEST_VERSION=%s\nKERNEL_PACKAGE=%s\nKERNEL_VERSION=%s\n' \
  "$GUEST_VERSION" "$kpkg" "$kver" >"$root/etc/stratus-build"

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
sshd:x:100:65534:sshd:/run:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
chmod 600 "$root/etc/shadow"
printf '/bin/sh\n/bin/ash\n' >"$root/etc/shells"
printf 'stratus\n' >"$root/etc/hostname"
printf '127.0.0.1 localhost\n' >"$root/etc/hosts"
cat >"$root/root/.profile" <<'EOF'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PS1='\h:\w\$ '
EOF

# DHCP client script: sets address, default route and resolv.conf, and keeps what it set in
# /run/net.env for /init to print.
cat >"$root/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
# udhcpc event handler: $1 is deconfig, bound, renew, leasefail or nak.
case $1 in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound | renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
    [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
    ip route del default dev "$interface" 2>/dev/null
    for r in $router; do
      ip route add default via "$r" dev "$interface" && break
    done
    : >/etc/resolv.conf
    [ -n "$domain" ] && echo "search $domain" >>/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
    {
      echo "NET_IFACE=$interface"
      echo "NET_IP=$ip"
      echo "NET_PREFIX=${mask:-24}"
      echo "NET_GATEWAY=${router%% *}"
      echo "NET_DNS='$dns'"
      echo "NET_SERVER=$serverid"
      echo "NET_LEASE=$lease"
    } >/run/net.env
    ;;
esac
exit 0
EOF
chmod 755 "$root/usr/share/udhcpc/default.script"

# The kernel runs /sbin/modprobe -q -- NAME for a filesystem, crypto algorithm or codepage it
# lacks; busybox's modprobe would want a depmod tree, this one knows the on-demand modules.
rm -f "$root/sbin/modprobe"
cat >"$root/sbin/modprobe" <<'EOF'
#!/bin/sh
# modprobe [-q] [--] NAME...: loads each named module (or module alias) of /etc/modules.demand
# with what it needs first; modules already in the kernel are skipped.
quiet=0
names=
for a in "$@"; do
  case $a in
    -q) quiet=1 ;;
    -*) ;;
    *) names="$names $a" ;;
  esac
done
rc=0
for n in $names; do
  m=$(awk -v n="$n" '$1 == n { print $2; exit }' /etc/modules.alias)
  [ -n "$m" ] || m=$(echo "$n" | tr - _)
  order=$(awk -v m="$m:" '$1 == m { $1 = ""; print; exit }' /etc/modules.demand)
  if [ -z "$order" ]; then
    [ -d "/sys/module/$m" ] && continue
    [ $quiet = 1 ] || echo "modprobe: module $n not found" >&2
    rc=1
    continue
  fi
  for d in $order; do
    [ -d "/sys/module/$d" ] || insmod "/lib/modules/$d.ko" || rc=1
  done
done
exit $rc
EOF
chmod 755 "$root/sbin/modprobe"

# busybox acpid runs /etc/acpi/PWRF/00000080 when the power button is pressed.
cat >"$root/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo "=== Stratus guest powering off (ACPI power button) ===" >/dev/console
kill "$(cat /run/dropbear.pid 2>/dev/null)" 2>/dev/null
sync
exec poweroff -f
EOF
chmod 755 "$root/etc/acpi/PWRF/00000080"

# Fixed timestamps make the archive depend on its content only.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
  cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9 -n >"$tmp/initrd.img"

# --- disk image -------------------------------------------------------------------------
# A FAT "superfloppy" (no partition table) made with mtools, so no loop device is needed;
# syslinux's boot sector loads the bzImage and the initramfs from it.
export MTOOLS_SKIP_CHECK=1
kernel_cmdline='console=ttyS0 quiet panic=-1'
mib=$(( ($(stat -c %s "$tmp/bzImage") + $(stat -c %s "$tmp/initrd.img")) / 1048576 + 4 ))
truncate -s "${mib}M" "$tmp/disk.img"
# 64 heads x 32 sectors of 512 bytes: one cylinder per MiB.
mformat -i "$tmp/disk.img" -t "$mib" -h 64 -s 32 -v STRATUS ::
mcopy -i "$tmp/disk.img" "$tmp/bzImage" ::vmlinuz
mcopy -i "$tmp/disk.img" "$tmp/initrd.img" ::initrd.img
printf 'DEFAULT stratus\nPROMPT 0\nTIMEOUT 0\nLABEL stratus\n  KERNEL vmlinuz\n  INITRD initrd.img\n  APPEND %s\n' \
  "$kernel_cmdline" >"$tmp/syslinux.cfg"
mcopy -i "$tmp/disk.img" "$tmp/syslinux.cfg" ::syslinux.cfg
syslinux --install "$tmp/disk.img"
qemu-img convert -f raw -O qcow2 "$tmp/disk.img" "$tmp/disk.qcow2"

printf '%s\n' "$version" >"$tmp/VERSION"
rm -f "$out/STAMP"
for f in "${outputs[@]}"; do
  mv -f "$tmp/$f" "$out/$f"
done
chmod 644 "$out/vmlinux" "$out/bzImage" "$out/initrd.img" "$out/disk.qcow2" "$out/VERSION"
printf '%s\n' "$stamp" >"$out/STAMP"
log "built $version"
(cd "$out" && du -h "${outputs[@]}" | sed 's/^/  /' >&2)
