"""How far a converted model's outputs are from its source framework's on the same inputs: max abs difference,
cosine similarity, top-1 agreement per output, and the tolerance past which a conversion fails."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# The defaults (`convert --help` repeats them): the largest max abs difference allowed, relative to the source
# output's largest magnitude (at least 1), and the least cosine similarity between the flattened outputs.
ATOL = 1e-3
MIN_COSINE = 0.999


@dataclass(frozen=True)
class OutputFidelity:
    """One output, over every sample: max abs difference, its bound, cosine similarity, top-1 agreement (the
    share of samples whose argmax over the last axis is the same; None for an output with one value a sample)."""

    name: str
    max_abs_diff: float
    bound: float
    cosine: float
    top1_agreement: float | None

    def passes(self, min_cosine: float) -> bool:
        return self.max_abs_diff <= self.bound and self.cosine >= min_cosine

    def text(self) -> str:
        top1 = f", top-1 agreement {self.top1_agreement:.3f}" if self.top1_agreement is not None else ""
        return f"max abs diff {self.max_abs_diff:.3g} (bound {self.bound:.3g}), cosine {self.cosine:.6f}{top1}"


@dataclass(frozen=True)
class Fidelity:
    """Every output of one converted model against the source, with the inputs and limits used."""

    outputs: list[OutputFidelity]
    samples: int
    inputs_from: str  # "dataset" or "seeded random"
    atol: float
    min_cosine: float

    @property
    def worst(self) -> OutputFidelity:
        """The output furthest past (or nearest to) its bound."""
        return max(self.outputs, key=lambda o: (not o.passes(self.min_cosine), o.max_abs_diff / (o.bound or 1)))

    @property
    def passes(self) -> bool:
        return all(o.passes(self.min_cosine) for o in self.outputs)

    def record(self) -> dict[str, object]:
        """What manifest.json keeps."""
        return {"samples": self.samples, "inputs": self.inputs_from, "atol": self.atol,
                "min_cosine": self.min_cosine, "outputs": [asdict(o) for o in self.outputs]}


def compare(names: list[str], source: list[np.ndarray], converted: list[np.ndarray], *, samples: int,
            inputs_from: str, atol: float = ATOL, min_cosine: float = MIN_COSINE) -> Fidelity:
    """Output i of the converted model against output i of the source (the same order; shapes must match)."""
    outputs = []
    for name, want, got in zip(names, source, converted):
        want64, got64 = np.asarray(want, np.float64), np.asarray(got, np.float64).reshape(np.shape(want))
        diff = float(np.max(np.abs(want64 - got64))) if want64.size else 0.0
        scale = max(1.0, float(np.max(np.abs(want64)))) if want64.size else 1.0
        a, b = want64.ravel(), got64.ravel()
        norms = float(np.linalg.norm(a) * np.linalg.norm(b))
        cosine = float(np.dot(a, b) / norms) if norms else float(np.array_equal(a, b))
        top1 = None
        if want64.ndim >= 2 and want64.shape[-1] > 1:
            top1 = float(np.mean(np.argmax(want64, axis=-1) == np.argmax(got64, axis=-1)))
        outputs.append(OutputFidelity(name, diff, atol * scale, cosine, top1))
    return Fidelity(outputs, samples, inputs_from, atol, min_cosine)
