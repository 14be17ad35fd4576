"""Image recipes: what goes into an emulated board's root, and the cache key that names a build of it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from edgeprof.errors import ConfigError
from edgeprof.paths import package_path

SCRIPT = package_path("emulate/build_qemu_image.sh")
ICOUNT_SUFFIX = "-icount"


@dataclass(frozen=True)
class Recipe:
    """One image: a pinned Debian suite and packages plus pinned aarch64 wheels."""

    name: str
    suite: str
    packages: tuple[str, ...]
    wheels: tuple[str, ...]
    python: str
    image_size: str
    initramfs_modules: tuple[str, ...]

    def env(self) -> dict[str, str]:
        """The variables the recipe script reads."""
        return {
            "SUITE": self.suite,
            "PACKAGES": " ".join(self.packages),
            "WHEELS": " ".join(self.wheels),
            "PYVER": self.python,
            "IMAGE_SIZE": self.image_size,
            "INITRAMFS_MODULES": " ".join(self.initramfs_modules),
        }

    def cache_key(self, script: bytes) -> str:
        """A short stable hash of everything that shapes the image: these fields and the script's bytes."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode())
        digest.update(b"\0" + script)
        return digest.hexdigest()[:16]


RECIPES: dict[str, Recipe] = {
    "qemu-pi4": Recipe(
        name="qemu-pi4",
        suite="bookworm",  # Python 3.11, like the host venv; a codename, never "stable"
        packages=("systemd-sysv", "udev", "linux-image-arm64", "initramfs-tools", "openssh-server", "python3",
                  "libstdc++6", "iproute2", "procps", "kmod"),
        wheels=("numpy==2.4.6", "onnxruntime==1.32.0", "psutil==7.2.2", "ai-edge-litert==2.3.0"),
        python="3.11",
        image_size="1536M",
        initramfs_modules=("virtio_pci", "virtio_mmio", "virtio_blk", "virtio_net", "ext4"),
    ),
}


def image_name(device: str) -> str:
    """The image a device boots: its own recipe, or its plain twin's for an `-icount` device."""
    return device[: -len(ICOUNT_SUFFIX)] if device.endswith(ICOUNT_SUFFIX) else device


def recipe_for(device: str) -> Recipe:
    """The recipe of an emulated device name (qemu-pi4, qemu-pi4-icount)."""
    name = image_name(device)
    if name not in RECIPES:
        raise ConfigError(f"no emulated image for '{device}' (known: {', '.join(sorted(RECIPES))})")
    return RECIPES[name]


def script_bytes() -> bytes:
    """The recipe script's bytes (part of the cache key)."""
    try:
        return SCRIPT.read_bytes()
    except OSError as exc:
        raise ConfigError(f"image recipe {SCRIPT} cannot be read: {exc.strerror}") from exc
