"""`sweep`: quantize an fp32 model into variants, then measure the source and every variant the way `deploy` does
(the plan it returns goes to pipeline.deploy_judge_store)."""

from __future__ import annotations

from pathlib import Path

from edgeprof.artifacts import load_artifact
from edgeprof.plan import Plan, Request, checked_settings, plan_models

DEFAULT_VARIANTS = "fp16,int8-dynamic,int8-static"


def sweep_plan(request: Request, variants: list[str], out: Path | None, calibration: Path | None) -> Plan:
    """Check the request (its one model is the fp32 source), write each variant into `out` (default:
    .edgeprof/variants/<model name>) with `calibration` for int8-static, and plan to measure the source and every
    variant on every device, each variant against the source as its reference."""
    from edgeprof.convert import quantize  # numpy, onnx and the converters: only when a sweep runs

    settings = checked_settings(request)
    (source,) = request.models
    out_dir = out or Path(".edgeprof") / "variants" / load_artifact(source).name
    made = quantize(source, variants, out_dir, calibration)
    return plan_models(settings, [source, *(v.path for v in made)])
