"""`sweep`: quantize an fp32 model into variants, then measure the source and every variant the way `deploy` does
(the plan it returns goes to pipeline.deploy_judge_store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgeprof.artifacts import load_artifact
from edgeprof.errors import ConfigError
from edgeprof.plan import Plan, Request, checked_settings, plan_models

DEFAULT_VARIANTS = "fp16,int8-dynamic,int8-static"
CALIBRATED = "int8-static"  # the variant that needs calibration inputs


@dataclass(frozen=True)
class Sweep:
    """What a sweep measures, where its variants went, and what it left out (one note each)."""

    plan: Plan
    out_dir: Path
    notes: list[str] = field(default_factory=list)


def sweep_plan(request: Request, variants: list[str], out: Path | None, calibration: Path | None) -> Sweep:
    """Check the request (its one model is the fp32 source), write each variant into `out` (default:
    .edgeprof/variants/<model name>) and plan to measure the source and every variant on every device, each
    variant against the source as its reference. int8-static calibrates on `calibration`, else on the --dataset's
    inputs; with neither it is left out with a note (a ConfigError when it was the only variant)."""
    from edgeprof.convert import quantize  # numpy, onnx and the converters: only when a sweep runs

    settings = checked_settings(request)
    (source,) = request.models
    out_dir = out or Path(".edgeprof") / "variants" / load_artifact(source).name
    calibration = calibration or request.dataset
    notes = []
    if CALIBRATED in variants and calibration is None and len(variants) > 1:
        variants = [v for v in variants if v != CALIBRATED]
        notes.append(f"note: {CALIBRATED} left out: it needs calibration inputs (--calibration NPZ, or --dataset "
                     "NPZ whose inputs it then uses)")
    if not variants:
        raise ConfigError("--variants is empty: name at least one, e.g. --variants fp16,int8-dynamic")
    made = quantize(source, variants, out_dir, calibration)
    return Sweep(plan_models(settings, [source, *(v.path for v in made)]), out_dir, notes)
