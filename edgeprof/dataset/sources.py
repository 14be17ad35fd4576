"""Where samples come from: a folder of images or .npy files (labels from class subfolders or a labels CSV), or a
CSV of feature columns and a label column."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeprof.artifacts import printable
from edgeprof.errors import ConfigError, one_line

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
NPY_SUFFIX = ".npy"
DEFAULT_LABEL_COLUMN = "label"


@dataclass(frozen=True)
class Source:
    """The samples of one source, in a fixed order: file paths (images, npy) or feature rows (csv)."""

    kind: str  # "images", "npy" or "csv"
    items: list[Any]
    labels: list[int] | None
    class_names: list[str] | None


@dataclass(frozen=True)
class _Found:
    """A source's samples with their label texts (None: unlabelled), and where those came from (for errors)."""

    kind: str
    items: list[Any]
    names: list[str] | None
    where: str


def open_source(src: Path, labels_csv: Path | None = None, label_column: str | None = None,
                classes: list[str] | None = None) -> Source:
    """The samples at `src`: a .csv file of features, or a folder (class subfolders, a labels CSV, or neither:
    unlabelled); `classes` fixes the class order (label i is classes[i]). ConfigError, one line, for a missing
    source, no samples, a bad CSV or a label that `classes` lacks."""
    found = _find(src, labels_csv, label_column)
    if found.names is None:
        if classes is not None:
            raise ConfigError(f"--classes names the classes of labelled samples; {found.where} has no labels")
        return Source(found.kind, found.items, None, None)
    labels, class_names = labels_from_names(found.names, found.where, classes)
    return Source(found.kind, found.items, labels, class_names)


def parse_classes(text: str) -> list[str]:
    """--classes: a text file with one class name per line, or comma-separated names; in label order."""
    path = Path(text)
    try:
        names = path.read_text(encoding="utf-8").splitlines() if path.is_file() else text.split(",")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--classes {printable(text)} cannot be read ({one_line(exc, 200)})") from None
    names = [name.strip() for name in names if name.strip()]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if not names or repeated:
        raise ConfigError(f"--classes {text!r}: " + (f"{repeated[0]!r} is named twice" if repeated else
                                                       "names no class (give a,b,c or a file of one name a line)"))
    return names


def _find(src: Path, labels_csv: Path | None, label_column: str | None) -> _Found:
    """The samples and their label texts, before any class order is applied."""
    shown = printable(str(src))
    if not src.exists():
        raise ConfigError(f"dataset source {shown} does not exist")
    if src.is_file():
        if src.suffix.lower() != ".csv":
            raise ConfigError(f"dataset source {shown} is a file but not a .csv: give a CSV of features or a folder "
                              "of images or .npy files")
        if labels_csv is not None:
            raise ConfigError("--labels is for a folder of images or .npy files; a feature CSV holds its labels in "
                              "a column (--label-column)")
        return _feature_csv(src, label_column)
    if labels_csv is not None:
        return _listed_files(src, labels_csv, label_column)
    if label_column is not None:
        raise ConfigError("--label-column names a column of a CSV: give --labels FILE.csv or a feature CSV")
    return _folder(src)


def labels_from_names(names: list[str], where: str, classes: list[str] | None = None
                      ) -> tuple[list[int], list[str] | None]:
    """Label texts as class indices: with `classes`, each one's position there; else names that are all whole
    numbers >= 0 are the indices themselves (no class names), and any other text gives the sorted distinct
    names indices 0..n-1. Fractions are refused."""
    stripped = [name.strip() for name in names]
    if "" in stripped:
        raise ConfigError(f"{where}: sample {stripped.index('') + 1} has an empty label (every sample needs one)")
    if classes is not None:
        unknown = next((name for name in stripped if name not in classes), None)
        if unknown is not None:
            raise ConfigError(f"{where}: class {unknown!r} is not in --classes ({', '.join(classes)})")
        return [classes.index(name) for name in stripped], classes
    numbers = [_number(name) for name in stripped]
    if all(n is not None for n in numbers):
        fraction = next((s for s, n in zip(stripped, numbers) if n != int(n)), None)  # type: ignore[arg-type]
        if fraction is not None:
            raise ConfigError(f"{where}: label {fraction!r} is not a whole number (labels are class indices or "
                              "class names)")
        indices = [int(n) for n in numbers]  # type: ignore[arg-type]
        if min(indices) < 0:
            raise ConfigError(f"{where}: label {min(indices)} is negative (class indices start at 0)")
        return indices, None
    classes = sorted(set(stripped))
    position = {name: i for i, name in enumerate(classes)}
    return [position[name] for name in stripped], classes


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _kind(files: list[Path], where: str) -> str:
    """'images' or 'npy' for a list of sample files of one kind."""
    kinds = {"npy" if f.suffix.lower() == NPY_SUFFIX else "images" for f in files}
    if len(kinds) > 1:
        raise ConfigError(f"{where} holds both images and .npy files: keep one kind per dataset")
    return kinds.pop()


def _sample_files(folder: Path) -> list[Path]:
    """The image and .npy files directly in `folder` (hidden ones skipped), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and (p.suffix.lower() in IMAGE_SUFFIXES or p.suffix.lower() == NPY_SUFFIX))


def _folder(src: Path) -> _Found:
    """Class subfolders (labels from their names), or loose files (no labels)."""
    shown = printable(str(src))
    if not src.is_dir():
        raise ConfigError(f"dataset source {shown} is not a folder or a .csv file")
    classes = sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = _sample_files(src)
    if classes and loose:
        raise ConfigError(f"{shown} holds both class folders and loose files ({printable(loose[0].name)}): put "
                          "every sample in its class folder, or give --labels")
    if not classes:
        if not loose:
            raise ConfigError(f"{shown} holds no images or .npy files (nor class folders of them)")
        return _Found(_kind(loose, shown), loose, None, shown)
    files: list[Path] = []
    names: list[str] = []
    for folder in classes:
        found = _sample_files(folder)
        if not found:
            raise ConfigError(f"class folder {printable(str(folder))} holds no images or .npy files")
        files += found
        names += [folder.name] * len(found)
    return _Found(_kind(files, shown), files, names, f"{shown} (class folders)")


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a CSV; ConfigError for an unreadable or empty one, or a ragged row."""
    shown = printable(str(path))
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = [row for row in csv.reader(fh) if row]
    except FileNotFoundError:
        raise ConfigError(f"CSV {shown} does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"CSV {shown} cannot be read ({exc})") from None
    if len(rows) < 2:
        raise ConfigError(f"CSV {shown} needs a header row and at least one row of data")
    header = [name.strip() for name in rows[0]]
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ConfigError(f"CSV {shown} line {number} has {len(row)} fields, the header {len(header)}")
    return header, rows[1:]


def _column(header: list[str], name: str, path: Path) -> int:
    if name not in header:
        raise ConfigError(f"CSV {printable(str(path))} has no column '{name}' (columns: {', '.join(header)})")
    return header.index(name)


def _feature_csv(path: Path, label_column: str | None) -> _Found:
    """Every column but the label column is a feature; without a `label` column (and no --label-column) the
    rows are unlabelled."""
    import numpy as np

    header, rows = _read_csv(path)
    shown = printable(str(path))
    wanted = label_column or DEFAULT_LABEL_COLUMN
    label_at = _column(header, wanted, path) if label_column or wanted in header else None
    features = [i for i in range(len(header)) if i != label_at]
    if not features:
        raise ConfigError(f"CSV {shown} has no feature columns besides '{wanted}'")
    items = []
    for number, row in enumerate(rows, start=2):
        values = []
        for i in features:
            try:
                values.append(float(row[i]))
            except ValueError:
                raise ConfigError(f"CSV {shown} line {number}, column '{header[i]}': {row[i]!r} is not a "
                                  "number") from None
        items.append(np.asarray(values, dtype=np.float64))
    names = None if label_at is None else [row[label_at] for row in rows]
    return _Found("csv", items, names, f"CSV {shown}")


def _listed_files(src: Path, labels_csv: Path, label_column: str | None) -> _Found:
    """Files named (relative to `src`) in the first column of a labels CSV, labelled by its label column."""
    header, rows = _read_csv(labels_csv)
    shown = printable(str(labels_csv))
    label_at = _column(header, label_column or DEFAULT_LABEL_COLUMN, labels_csv)
    if label_at == 0:
        raise ConfigError(f"labels CSV {shown}: the first column names the files, the label column must be another")
    if not src.is_dir():
        raise ConfigError(f"dataset source {printable(str(src))} is not a folder")
    files = []
    for number, row in enumerate(rows, start=2):
        path = src / row[0].strip()
        if not path.is_file():
            raise ConfigError(f"labels CSV {shown} line {number}: {printable(str(path))} is not a file")
        if path.suffix.lower() not in IMAGE_SUFFIXES and path.suffix.lower() != NPY_SUFFIX:
            raise ConfigError(f"labels CSV {shown} line {number}: {printable(str(path))} is neither an image nor "
                              "a .npy file")
        files.append(path)
    return _Found(_kind(files, printable(str(src))), files, [row[label_at] for row in rows], f"labels CSV {shown}")
