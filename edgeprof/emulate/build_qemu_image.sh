#!/bin/sh
# The image recipe of edgeprof's emulated arm64 board (qemu-pi4): a Debian root with SSH, Python 3 and the
# aarch64 wheels of the runtimes, booted by qemu-system-aarch64 with -kernel/-initrd (no bootloader).
#
#   sudo scripts/build_qemu_image.sh OUTDIR
#
# `edgeprof emulate build` runs this same file (it hashes it into the image cache key), with the variables
# below set from edgeprof/emulate/recipe.py. Run by hand, the defaults below apply.
# Needs root and: mmdebstrap arch-test qemu-user-static binfmt-support qemu-utils e2fsprogs openssh-client.
# Produces in OUTDIR: vmlinuz, initrd.img, rootfs.qcow2, id_ed25519{,.pub} (edgeprof's client key),
# ssh_host_ed25519_key.pub (the guest's host key, generated here and baked in), wheels.txt.
# Each step prints "==> STEP <name>: <what>" so a caller can show progress and name a failed step.
set -eu

SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
PACKAGES="${PACKAGES:-systemd-sysv udev linux-image-arm64 initramfs-tools openssh-server python3 libstdc++6 iproute2 procps kmod}"
WHEELS="${WHEELS:-numpy==2.4.6 onnxruntime==1.32.0 psutil==7.2.2 ai-edge-litert==2.3.0}"
PYVER="${PYVER:-3.11}"
IMAGE_SIZE="${IMAGE_SIZE:-1536M}"
INITRAMFS_MODULES="${INITRAMFS_MODULES:-virtio_pci virtio_mmio virtio_blk virtio_net ext4}"
PIP="${PIP:-python3 -m pip}"
# manylinux tags the guest's glibc (2.36 in bookworm) accepts
PLATFORMS="${PLATFORMS:-manylinux_2_36_aarch64 manylinux_2_35_aarch64 manylinux_2_34_aarch64 manylinux_2_31_aarch64 manylinux_2_28_aarch64 manylinux_2_27_aarch64 manylinux_2_17_aarch64 manylinux2014_aarch64 any}"

step() { echo "==> STEP $1: $2"; }

# --- called back by mmdebstrap's hooks: "$0 setup|customize ROOT" ------------------------------------------
if [ "${1:-}" = "setup" ]; then
    root="$2"
    # Before any package is installed: a small initramfs (virtio + ext4 only), pre-seeded host key.
    mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/usr/share/initramfs-tools/modules.d" "$root/etc/ssh"
    echo "MODULES=list" > "$root/etc/initramfs-tools/conf.d/edgeprof"
    for m in $INITRAMFS_MODULES; do echo "$m"; done > "$root/usr/share/initramfs-tools/modules.d/edgeprof"
    install -m 600 "$KEYDIR/ssh_host_ed25519_key" "$root/etc/ssh/ssh_host_ed25519_key"
    install -m 644 "$KEYDIR/ssh_host_ed25519_key.pub" "$root/etc/ssh/ssh_host_ed25519_key.pub"
    exit 0
fi
if [ "${1:-}" = "customize" ]; then
    root="$2"
    echo "edgeprof-qemu" > "$root/etc/hostname"
    printf '127.0.0.1 localhost\n127.0.1.1 edgeprof-qemu\n' > "$root/etc/hosts"
    printf '/dev/vda / ext4 rw,noatime 0 0\n' > "$root/etc/fstab"
    mkdir -p "$root/etc/systemd/network"
    # QEMU's user-mode network: a fixed address, no DHCP wait.
    printf '[Match]\nName=e*\n\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\nDNS=10.0.2.3\n' \
        > "$root/etc/systemd/network/10-qemu.network"
    chroot "$root" systemctl enable systemd-networkd >/dev/null 2>&1
    chroot "$root" systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1
    # SSH: the baked-in ed25519 host key only, root by key only, no DNS lookups.
    rm -f "$root"/etc/ssh/ssh_host_rsa_key* "$root"/etc/ssh/ssh_host_ecdsa_key*
    mkdir -p "$root/etc/ssh/sshd_config.d"
    printf 'HostKey /etc/ssh/ssh_host_ed25519_key\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' \
        > "$root/etc/ssh/sshd_config.d/edgeprof.conf"
    install -d -m 700 "$root/root/.ssh"
    install -m 600 "$KEYDIR/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
    cp "$root"/boot/vmlinuz-* "$OUTDIR/vmlinuz"
    cp "$root"/boot/initrd.img-* "$OUTDIR/initrd.img"
    exit 0
fi

# --- the build ---------------------------------------------------------------------------------------------
OUTDIR="${1:?usage: $0 OUTDIR}"
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
WORK="$OUTDIR/work"
KEYDIR="$OUTDIR"
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
export OUTDIR KEYDIR INITRAMFS_MODULES
rm -rf "$WORK"
mkdir -p "$WORK"
platform_args=""
for p in $PLATFORMS; do platform_args="$platform_args --platform $p"; done

step host "check host tools and arm64 emulation (binfmt_misc)"
[ "$(id -u)" = 0 ] || { echo "must run as root (mmdebstrap root mode, binfmt_misc)"; exit 1; }
for tool in mmdebstrap arch-test mke2fs qemu-img ssh-keygen; do
    command -v "$tool" >/dev/null || { echo "missing host tool: $tool"; exit 1; }
done
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    update-binfmts --enable qemu-aarch64 2>/dev/null || true
fi
arch-test arm64 >/dev/null || { echo "arm64 binaries do not run here (qemu-user-static + binfmt_misc needed)"; exit 1; }

step keys "generate the client key and the guest host key"
rm -f "$OUTDIR/id_ed25519" "$OUTDIR/id_ed25519.pub" "$OUTDIR/ssh_host_ed25519_key" "$OUTDIR/ssh_host_ed25519_key.pub"
ssh-keygen -q -t ed25519 -N '' -C edgeprof-emulate -f "$OUTDIR/id_ed25519"
ssh-keygen -q -t ed25519 -N '' -C edgeprof-qemu-host -f "$OUTDIR/ssh_host_ed25519_key"

step wheels "download the aarch64 wheels ($WHEELS)"
# shellcheck disable=SC2086
$PIP download --quiet --dest "$WORK/wheels" --only-binary=:all: --python-version "$PYVER" \
    --implementation cp $platform_args $WHEELS
ls "$WORK/wheels" > "$OUTDIR/wheels.txt"

step debootstrap "Debian $SUITE arm64 root with: $PACKAGES"
mmdebstrap --mode=root --arch=arm64 --variant=minbase --include="$(echo "$PACKAGES" | tr ' ' ',')" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --setup-hook="\"$SELF\" setup \"\$1\"" \
    --customize-hook="\"$SELF\" customize \"\$1\"" \
    "$SUITE" "$WORK/root" "$MIRROR"
rm -f "$OUTDIR/ssh_host_ed25519_key"

step python "install the wheels into the root (no emulation: pip --target for aarch64)"
site="$WORK/root/usr/local/lib/python$PYVER/dist-packages"
# shellcheck disable=SC2086
$PIP install --quiet --no-index --find-links "$WORK/wheels" --target "$site" --only-binary=:all: \
    --python-version "$PYVER" --implementation cp $platform_args --ignore-requires-python --no-compile $WHEELS

step filesystem "ext4 image ($IMAGE_SIZE) from the root, compressed to qcow2"
mke2fs -q -t ext4 -L edgeprof-root -d "$WORK/root" "$WORK/rootfs.raw" "$IMAGE_SIZE"
qemu-img convert -c -O qcow2 "$WORK/rootfs.raw" "$OUTDIR/rootfs.qcow2"
rm -rf "$WORK"
step done "image in $OUTDIR"
