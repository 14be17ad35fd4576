"""The lines a terminal shows under the tables for a generative model: its generation's facts
(report.details.generation_rows), one line each."""

from __future__ import annotations

from typing import Any

from edgeprof.report.details import generation_rows, runtime_rows
from edgeprof.result import Result


def generation_lines(result: dict[str, Any]) -> list[str]:
    """'TTFT p50 ..., p95 ...', 'TPOT ...', 'tokens/s ...', RSS by context, perplexity, agreement, energy per token and
    the runtime that generated (the table may have had no room for it) of a Result with a `generation` section (none
    otherwise)."""
    if not Result(result).generation:
        return []
    return [f"{what} {text}" for what, text in generation_rows(result) + runtime_rows(result)[:1]]
