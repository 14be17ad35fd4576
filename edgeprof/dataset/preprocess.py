"""Preprocessing: decode and size images, then scale, normalise, lay out and cast (or quantise) the samples."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from edgeprof.artifacts import TensorSpec, printable
from edgeprof.errors import ConfigError, one_line

if TYPE_CHECKING:
    import numpy as np

COLORS = ("rgb", "bgr", "gray")
LAYOUTS = ("nhwc", "nchw")
CROPS = ("center",)
DTYPES = ("float32", "float16", "float64", "int8", "uint8", "int16", "int32", "int64")


@dataclass(frozen=True)
class Preprocessing:
    """What is done to every sample, in this order: (images) colour, crop and resize; then x * scale, minus mean,
    divided by std (per channel, the last axis), layout, dtype. None: not given (a default fills it)."""

    resize: tuple[int, int] | None = None  # (height, width)
    crop: str | None = None
    color: str | None = None
    scale: float | None = None
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    layout: str | None = None
    dtype: str | None = None
    quant: tuple[float, int] | None = None  # (scale, zero point) of a quantised integer input

    def __post_init__(self) -> None:
        for option, value, allowed in (("--crop", self.crop, CROPS), ("--color", self.color, COLORS),
                                       ("--layout", self.layout, LAYOUTS), ("--dtype", self.dtype, DTYPES)):
            if value is not None and value not in allowed:
                raise ConfigError(f"{option} {value!r} is not one of {', '.join(allowed)}")
        if any(s == 0 for s in self.std):
            raise ConfigError("--std has a 0: every value divides the samples")


def parse_size(text: str) -> tuple[int, int]:
    """'96x96' or '224X160' -> (height, width), both positive."""
    height, sep, width = text.lower().partition("x")
    try:
        size = (int(height), int(width))
    except ValueError:
        size = (0, 0)
    if not sep or min(size) <= 0:
        raise ConfigError(f"--resize {text!r} is not HEIGHTxWIDTH in pixels, e.g. 96x96")
    return size


def parse_scale(text: str) -> float:
    """'0.5' or a fraction '1/255' -> a float (not zero)."""
    top, sep, bottom = text.partition("/")
    try:
        value = float(top) / float(bottom) if sep else float(text)
    except (ValueError, ZeroDivisionError):
        value = 0.0
    if value == 0 or value != value or abs(value) == float("inf"):
        raise ConfigError(f"--scale {text!r} is not a non-zero number or fraction, e.g. 1/255 or 0.0039")
    return value


def parse_floats(text: str, option: str) -> tuple[float, ...]:
    """'0.485,0.456,0.406' -> a tuple of floats (one per channel, or one for all)."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not a comma-separated list of numbers, e.g. 0.5 or "
                          "0.485,0.456,0.406") from None
    if any(v != v or abs(v) == float("inf") for v in values):
        raise ConfigError(f"{option} {text!r} holds a value that is not finite")
    return values


def model_layout(spec: TensorSpec) -> str | None:
    """'nchw' or 'nhwc' for a 4-d image input (channels of 1 or 3 first or last), else None."""
    if len(spec.shape) != 4:
        return None
    first, last = spec.shape[1], spec.shape[3]
    if first in (1, 3) and last not in (1, 3):
        return "nchw"
    return "nhwc" if last in (1, 3, 4) else None


def with_model(prep: Preprocessing, spec: TensorSpec, quant: tuple[float, int] | None, images: bool
               ) -> Preprocessing:
    """What was not given, taken from a model input: its dtype (and its scale and zero point `quant` when it is
    quantised), and for images its layout, size and colour (1 channel: gray)."""
    dtype = prep.dtype or (spec.dtype if spec.dtype in DTYPES else None)
    quant = quant if dtype == spec.dtype else None
    prep = replace(prep, dtype=dtype, quant=quant)
    layout = model_layout(spec)
    if not images or layout is None:
        return prep
    channels, height, width = (spec.shape[1], *spec.shape[2:]) if layout == "nchw" else (spec.shape[3],
                                                                                         *spec.shape[1:3])
    size = (height, width) if height and width else None
    return replace(prep, layout=prep.layout or layout, resize=prep.resize or size,
                   color=prep.color or ("gray" if channels == 1 else "rgb" if channels == 3 else None))


def decode_image(path: Path, prep: Preprocessing) -> np.ndarray:
    """One image as height x width x channels uint8, in the asked colour, cropped and resized; ConfigError
    naming the file when it cannot be decoded."""
    import numpy as np
    from PIL import Image, ImageOps

    if prep.crop and not prep.resize:
        raise ConfigError("--crop center needs the size to crop to: give --resize HxW (or --model)")
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened).convert("L" if prep.color == "gray" else "RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # UnidentifiedImageError: OSError
        raise ConfigError(f"image {printable(str(path))} cannot be decoded ({one_line(exc, 200)})") from None
    if prep.resize:
        size = (prep.resize[1], prep.resize[0])  # Pillow sizes are (width, height)
        method = Image.Resampling.BILINEAR
        image = ImageOps.fit(image, size, method) if prep.crop else image.resize(size, method)
    array = np.asarray(image)
    if array.ndim == 2:
        return array[:, :, None]
    return array[:, :, ::-1] if prep.color == "bgr" else array


def finish(samples: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """Stacked samples (samples first, channels last) scaled, normalised, laid out and cast."""
    import numpy as np

    values = samples.astype(np.float32) * np.float32(1.0 if prep.scale is None else prep.scale)
    channels = samples.shape[-1] if samples.ndim > 1 else 1
    for option, given in (("--mean", prep.mean), ("--std", prep.std)):
        if len(given) not in (0, 1, channels):
            raise ConfigError(f"{option} has {len(given)} values, the samples have {channels} channels (give one "
                              f"value or {channels})")
    if prep.mean:
        values -= np.asarray(prep.mean, dtype=np.float32)
    if prep.std:
        values /= np.asarray(prep.std, dtype=np.float32)
    if prep.layout == "nchw":
        if values.ndim != 4:
            raise ConfigError(f"--layout nchw takes height x width x channels samples; these are "
                              f"{list(samples.shape[1:])}")
        values = np.ascontiguousarray(values.transpose(0, 3, 1, 2))
    return cast(values, prep.dtype or "float32", prep.quant)


def cast(values: np.ndarray, dtype: str, quant: tuple[float, int] | None) -> np.ndarray:
    """Float values in `dtype`: quantised with (scale, zero point) when given, as the device quantises them
    (round(x / scale + zero), clipped); otherwise integers must hold whole numbers in their range."""
    import numpy as np

    from edgeprof.agent.inputs import quantize

    target = np.dtype(dtype)
    if target.kind == "f":
        return values.astype(target)
    if quant is not None:
        return quantize(values, target, quant)
    limits = np.iinfo(target)
    whole = np.isfinite(values).all() and bool((values == np.round(values)).all())
    if not whole or (values.size and (values.min() < limits.min or values.max() > limits.max)):
        raise ConfigError(f"the samples do not fit {dtype} (whole numbers from {limits.min} to {limits.max}): "
                          "drop --scale/--mean/--std, or give --model for a quantised input's scale and zero point")
    return values.astype(target)
