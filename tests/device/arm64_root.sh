#!/bin/sh
# Prints the path of a Debian bookworm arm64 root for `make test-arm64`, building it once (debootstrap under
# qemu-user) into ${VOXPORT_CACHE_DIR:-~/.cache/voxport}/arm64-root; later runs reuse it (a marker file says
# it finished). Needs root (debootstrap, chroot) and Debian's debootstrap, qemu-user-static and binfmt-support,
# which it installs with apt-get where they are missing. Progress goes to stderr; stdout is the path only.
set -eu

cache="${VOXPORT_CACHE_DIR:-$HOME/.cache/voxport}"
root="$cache/arm64-root"
log="$cache/arm64-debootstrap.log"
mirror="${VOXPORT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

say() { echo "[arm64] $*" >&2; }

if [ "$(id -u)" != 0 ]; then
    say "building and entering the arm64 root needs root (debootstrap, chroot, mount): run as root"
    exit 2
fi

missing=""
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
[ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || command -v qemu-aarch64-static >/dev/null 2>&1 \
    || missing="$missing qemu-user-static"
command -v update-binfmts >/dev/null 2>&1 || missing="$missing binfmt-support"
if [ -n "$missing" ]; then
    say "installing$missing (Debian packages)"
    if ! command -v apt-get >/dev/null 2>&1; then
        say "no apt-get: install$missing by hand"
        exit 2
    fi
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
fi

# The kernel runs arm64 binaries through qemu only once binfmt_misc knows the format; the F flag lets a
# chroot use the host's interpreter, so nothing of qemu is copied into the root.
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    update-binfmts --enable qemu-aarch64 >&2 || true
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    say "binfmt_misc has no qemu-aarch64 entry: this machine cannot run arm64 binaries"
    exit 2
fi

if [ -e "$root/.voxport-root-ready" ]; then
    say "arm64 root: $root (cached)"
    echo "$root"
    exit 0
fi

say "building the arm64 root into $root with debootstrap (once; about 5 minutes; log: $log)"
rm -rf "$root"
mkdir -p "$cache"
if ! debootstrap --arch=arm64 --variant=minbase \
        --include=ca-certificates,python3,python3-venv,python3-pip bookworm "$root" "$mirror" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    say "debootstrap failed: see $log"
    exit 1
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"  # pip inside the root reaches PyPI with the host's resolver
chroot "$root" /usr/bin/python3 -m venv /opt/voxport-venv >&2
touch "$root/.voxport-root-ready"
say "arm64 root ready: $root"
echo "$root"
