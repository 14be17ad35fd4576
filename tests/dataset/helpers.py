"""What the dataset tests share: image folders written with Pillow, NPZ reading, the CLI in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np


def write_image(path: Path, pixels: np.ndarray) -> Path:
    """Save uint8 pixels (height x width x 3, or height x width) as the file's format (PNG, JPEG ...)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path)
    return path


def class_folders(root: Path, per_class: dict[str, int], size: tuple[int, int] = (6, 5), suffix: str = ".png"
                  ) -> Path:
    """root/<class>/<i><suffix> images; the red channel of sample k (in class then file order) is k, so a sample
    can be told from its pixels; green is the class's position, blue 200."""
    k = 0
    for position, (name, count) in enumerate(per_class.items()):
        for i in range(count):
            pixels = np.zeros((*size, 3), dtype=np.uint8)
            pixels[..., 0], pixels[..., 1], pixels[..., 2] = k, position, 200
            write_image(root / name / f"{i:03d}{suffix}", pixels)
            k += 1
    return root


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def edgeprof(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "edgeprof", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def one_error_line(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The single `edgeprof: error:` line of a failed command (asserting the exit code and no traceback)."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("edgeprof: error: "), proc.stderr
    return lines[0]
