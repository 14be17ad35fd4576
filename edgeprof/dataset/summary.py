"""`dataset show`: what an NPZ dataset holds, per array and per label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeprof.artifacts import read_npz
from edgeprof.dataset.build import CLASS_NAMES


def summarize(path: Path) -> dict[str, Any]:
    """Samples, the input arrays (shape, dtype, min/max/mean over finite values, NaN and inf counts) and the
    label counts with class names where the file has them; ConfigError for a file that is not an NPZ."""
    import numpy as np

    arrays = read_npz(path, "dataset")
    names = [str(n) for n in arrays[CLASS_NAMES].tolist()] if CLASS_NAMES in arrays else None
    inputs = [_describe(key, array) for key, array in arrays.items() if key not in ("y", CLASS_NAMES)]
    summary: dict[str, Any] = {"path": str(path), "samples": inputs[0]["shape"][0] if inputs and inputs[0]["shape"]
                               else None, "inputs": inputs, "labels": None, "class_names": names}
    if "y" in arrays:
        labels = arrays["y"].reshape(-1)
        values, counts = np.unique(labels, return_counts=True)
        summary["labels"] = {
            "dtype": labels.dtype.name,
            "count": int(labels.size),
            "classes": [{"label": _label(value), "count": int(count),
                         "name": _name(value.item(), names)} for value, count in zip(values, counts)],
        }
    return summary


def _label(value: Any) -> int | str:
    """A label as JSON carries it: an integer class index as is, any other label (text, a float, a complex
    number, a date) as its text."""
    return value.item() if value.dtype.kind in "biu" else str(value)


def _name(label: Any, names: list[str] | None) -> str | None:
    if names is None or not isinstance(label, int) or not 0 <= label < len(names):
        return None
    return names[label]


def _describe(key: str, array: Any) -> dict[str, Any]:
    import numpy as np

    entry: dict[str, Any] = {"key": key, "shape": list(array.shape), "dtype": array.dtype.name,
                             "min": None, "max": None, "mean": None, "nan": 0, "inf": 0}
    if array.dtype.kind not in "biuf" or not array.size:
        return entry
    values = array
    if array.dtype.kind == "f":  # NaN and inf counted, then left out of the figures (no float64 copy of it all)
        finite = np.isfinite(array)
        entry.update(nan=int(np.isnan(array).sum()), inf=int(np.isinf(array).sum()))
        values = array if finite.all() else array[finite]
    if values.size:
        entry.update(min=float(values.min()), max=float(values.max()), mean=float(values.mean(dtype=np.float64)))
    return entry
