"""Procedural 10-class shape images (numpy only, seeded): the data the shipped mobilenetv2 is trained and tested on.

Each image is 96x96 RGB uint8: one filled shape (circle, square, triangle, cross, ring; random size, position and
rotation) or one pattern over the whole image (horizontal, vertical or diagonal stripes, checkerboard, dot grid;
random period and phase), in a random colour on a random background of clearly different colour, under a
brightness gradient, blotchy low-resolution noise and a few speckles, so the classes take a real classifier
to tell apart. The noise is coarse on purpose: the held-out sets it makes compress well enough to ship.

    from scripts.shapes import CLASSES, make
    images, labels = make(1000, seed=0)   # uint8 [1000, 96, 96, 3], int64 [1000]; classes balanced and shuffled

The same (n, seed) gives the same images on any machine with the same numpy.
"""

from __future__ import annotations

import numpy as np

SIZE = 96
CLASSES = ("circle", "square", "triangle", "cross", "ring",
           "horizontal_stripes", "vertical_stripes", "diagonal_stripes", "checkerboard", "dot_grid")
MIN_CONTRAST = 90  # the least sum of absolute RGB differences between shape and background colours
_Y, _X = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) + 0.5


def _centred(rng: np.random.Generator, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates relative to a random centre that keeps a shape of radius `reach` in view, randomly rotated."""
    cx, cy = rng.uniform(reach + 2, SIZE - reach - 2, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    dx, dy = _X - cx, _Y - cy
    return dx * np.cos(angle) + dy * np.sin(angle), -dx * np.sin(angle) + dy * np.cos(angle)


def _circle(rng: np.random.Generator) -> np.ndarray:
    radius = rng.uniform(22, 38)
    u, v = _centred(rng, radius)
    return u ** 2 + v ** 2 <= radius ** 2


def _square(rng: np.random.Generator) -> np.ndarray:
    half = rng.uniform(18, 30)
    u, v = _centred(rng, half * np.sqrt(2))
    return (np.abs(u) <= half) & (np.abs(v) <= half)


def _triangle(rng: np.random.Generator) -> np.ndarray:
    radius = rng.uniform(26, 42)  # circumradius of an equilateral triangle
    u, v = _centred(rng, radius)
    normals = [(np.cos(a), np.sin(a)) for a in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3)]
    return np.logical_and.reduce([u * nx + v * ny <= radius / 2 for nx, ny in normals])


def _cross(rng: np.random.Generator) -> np.ndarray:
    arm = rng.uniform(24, 40)
    half_width = arm * rng.uniform(0.18, 0.32)
    u, v = _centred(rng, arm * 1.05)
    inside = (np.abs(u) <= arm) & (np.abs(v) <= arm)
    return inside & ((np.abs(u) <= half_width) | (np.abs(v) <= half_width))


def _ring(rng: np.random.Generator) -> np.ndarray:
    outer = rng.uniform(22, 38)
    inner = outer * rng.uniform(0.45, 0.65)
    u, v = _centred(rng, outer)
    r2 = u ** 2 + v ** 2
    return (r2 <= outer ** 2) & (r2 >= inner ** 2)


def _stripes(coordinate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    period = rng.uniform(8, 20)
    return (coordinate + rng.uniform(0, period)) % period < period * rng.uniform(0.35, 0.65)


def _horizontal_stripes(rng: np.random.Generator) -> np.ndarray:
    return _stripes(_Y, rng)


def _vertical_stripes(rng: np.random.Generator) -> np.ndarray:
    return _stripes(_X, rng)


def _diagonal_stripes(rng: np.random.Generator) -> np.ndarray:
    sign = rng.choice([-1.0, 1.0])
    return _stripes((_X + sign * _Y) / np.sqrt(2), rng)


def _checkerboard(rng: np.random.Generator) -> np.ndarray:
    cell = rng.uniform(6, 16)
    px, py = rng.uniform(0, cell, size=2)
    return ((np.floor((_X + px) / cell) + np.floor((_Y + py) / cell)) % 2).astype(bool)


def _dot_grid(rng: np.random.Generator) -> np.ndarray:
    spacing = rng.uniform(12, 22)
    radius = spacing * rng.uniform(0.2, 0.33)
    px, py = rng.uniform(0, spacing, size=2)
    u = (_X + px) % spacing - spacing / 2
    v = (_Y + py) % spacing - spacing / 2
    return u ** 2 + v ** 2 <= radius ** 2


_MASKS = (_circle, _square, _triangle, _cross, _ring,
          _horizontal_stripes, _vertical_stripes, _diagonal_stripes, _checkerboard, _dot_grid)


def _colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A background and a foreground colour at least MIN_CONTRAST apart."""
    while True:
        background, foreground = rng.integers(0, 256, size=(2, 3)).astype(np.float64)
        if np.abs(background - foreground).sum() >= MIN_CONTRAST:
            return background, foreground


def render(label: int, rng: np.random.Generator) -> np.ndarray:
    """One image of class `label` (an index into CLASSES), uint8 [96, 96, 3]."""
    mask = _MASKS[label](rng)[..., None]
    background, foreground = _colours(rng)
    image = np.where(mask, foreground, background)
    gx, gy = rng.uniform(-0.25, 0.25, size=2)  # brightness gradient, up to +-25% across the image
    image = image * (1 + (gx * (_X - SIZE / 2) + gy * (_Y - SIZE / 2)) / SIZE)[..., None]
    blotches = rng.normal(0, 10, size=(SIZE // 8, SIZE // 8, 3)).round()  # coarse noise, 8x8 pixel cells
    image = image + np.kron(blotches, np.ones((8, 8, 1)))
    speckles = rng.random((SIZE, SIZE)) < 0.01
    image[speckles] = rng.integers(0, 256, size=(int(speckles.sum()), 3))
    return np.clip(image.round(), 0, 255).astype(np.uint8)


def make(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` images (uint8 [n, 96, 96, 3]) and their labels (int64 [n]): classes as balanced as n allows, shuffled."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(CLASSES)).astype(np.int64)
    return np.stack([render(int(label), rng) for label in labels]), labels
