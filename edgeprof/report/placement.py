"""Where a Result's graph ran (its `placement`), what compiling cost, and its slowest operators (`op_profile`), as
table rows and as short lines every report shares."""

from __future__ import annotations

from typing import Any

from edgeprof.result import Result
from edgeprof.units import duration

TOP = 5  # operator types and nodes shown from an op profile
TOP_NODES = 3  # nodes given a line each in the text reports
WIDTH = 118  # text lines stay within 120 columns under a two-space indent


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def accelerator_rows(result: dict[str, Any]) -> list[list[str]]:
    """[name, 'nodes/total', time, share] per provider or delegate the placement names."""
    placement = Result(result).section("placement")
    total = placement.get("nodes") or 0
    return [[e["name"], f"{e['nodes']}/{total}", duration(e.get("ms")), _share(e.get("share"))]
            for e in placement.get("by_accelerator") or []]


def fallback_rows(result: dict[str, Any]) -> list[list[str]]:
    """[node, op type, ran on] per node that fell back to the plain CPU kernels."""
    return [[n["node"], n["op"], n["ran_on"]] for n in Result(result).section("placement").get("fallback_nodes") or []]


def top_op_rows(result: dict[str, Any]) -> list[list[str]]:
    """[op type, time per run, share] of the TOP slowest operator types."""
    return [[e["op"], duration(e.get("ms_per_run")), _share(e.get("share"))]
            for e in (Result(result).section("op_profile").get("by_op_type") or [])[:TOP]]


def top_node_rows(result: dict[str, Any]) -> list[list[str]]:
    """[node, op type, provider, time per run, share] of the TOP slowest nodes."""
    return [[e["node"], e["op"], str(e.get("provider") or "-"), duration(e.get("ms_per_run")),
             _share(e.get("share"))]
            for e in (Result(result).section("op_profile").get("by_node") or [])[:TOP]]


def _fit(prefix: str, items: list[str], width: int = WIDTH) -> str:
    """`prefix` and as many comma-joined `items` as fit in `width`, then '+N more' (the first item cut short with
    '…' when even it does not fit)."""
    text = prefix
    for i, item in enumerate(items):
        more = f", +{len(items) - i - 1} more" if i < len(items) - 1 else ""
        candidate = text + (", " if i else "") + item
        if len(candidate + more) > width:
            return f"{text}, +{len(items) - i} more" if i else candidate[:width - len(more) - 1] + "…" + more
        text = candidate
    return text


def compile_text(result: dict[str, Any]) -> str | None:
    """'compile 52.0 ms (cache miss)', or None when no compiling provider or delegate ran."""
    compiled = Result(result).runtime.get("compile")
    return f"compile {duration(compiled.get('ms'))} (cache {compiled.get('cache', '-')})" if compiled else None


def placement_lines(result: dict[str, Any]) -> list[str]:
    """The placement, the compile and the top operators as lines within WIDTH columns; [] for a Result without."""
    placement = Result(result).section("placement")
    lines = []
    if placement:
        fallback = placement.get("fallback_nodes") or []
        plain = {n["ran_on"] for n in fallback}
        basis = "time" if placement.get("fraction_basis") == "time" else "nodes"
        shown = [f"{name} {nodes} nodes" + (f" ({share} of {basis})" if share != "-" else "")
                 for (name, nodes, _, share) in accelerator_rows(result) if name not in plain]
        text = "placement: " + ", ".join(shown)
        if placement.get("unavailable"):
            text += "; unavailable: " + ", ".join(placement["unavailable"])
        count = placement.get("fallback_count") or 0
        lines.append(_fit(f"{text}, {count} fallback{'s' if count != 1 else ''}: ",
                          [f"{op} ({node})" for node, op, _ in fallback_rows(result)]) if count else text)
    compiled = compile_text(result)
    lines += [compiled] if compiled else []
    ops = top_op_rows(result)
    if ops:
        lines.append(_fit("top op types: ", [f"{op} {ms} ({share})" for op, ms, share in ops]))
        lines += [f"top node {node} ({op}, {provider}): {ms}/run ({share})"[:WIDTH]
                  for node, op, provider, ms, share in top_node_rows(result)[:TOP_NODES]]
    return lines
