"""The host/agent contract has one home, edgeprof/agent/spec.py: every stage, event and error kind the sources name
is one of its lists, the host compares events and error kinds only through its names, the device's work-dir
layout is spelled nowhere else, and the protocol docs list what it lists."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeprof.agent import spec
from edgeprof.agent.spec import (
    ERROR_KINDS,
    EVENTS,
    HOST_ERROR_KINDS,
    RESULT_SECTIONS,
    STAGES,
    ErrorKind,
    Event,
    Stage,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "edgeprof"
AGENT = PACKAGE / "agent"
SPEC = AGENT / "spec.py"
NAMESPACES = {"Stage": Stage, "Event": Event, "ErrorKind": ErrorKind}
LAYOUT = (spec.BLOB_DIR, spec.CACHE_DIR, spec.LOCK_FILE, spec.PARTIAL_PREFIX, spec.MODEL_FOLDER_PREFIX)
PROTOCOL_NAMES = {*EVENTS, *ERROR_KINDS, *HOST_ERROR_KINDS}


def _sources(under: Path) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(under.rglob("*.py")):
        if path != SPEC:
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"


def _text(node: ast.AST | None) -> str | None:
    """The string a node spells: a literal, or a name of the contract's classes (Stage.LOAD)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in NAMESPACES:
        return getattr(NAMESPACES[node.value.id], node.attr, f"<no {node.value.id}.{node.attr}>")
    return None


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _agent_names() -> Iterator[tuple[str, str | None, tuple[str, ...]]]:
    """(where, the name given, the list it must be in) for every stage, event and error kind the agent passes:
    AgentFailure(kind, message, stage), clock.enter(stage), progress(stage, ...), _guarded(fn, stage),
    emit(event, kind=...), fail_now(kind, message, stage)."""
    positions = {"AgentFailure": ((0, ERROR_KINDS), (2, STAGES)), "fail_now": ((0, ERROR_KINDS), (2, STAGES)),
                 "enter": ((0, STAGES),), "progress": ((0, STAGES),), "_guarded": ((1, STAGES),),
                 "emit": ((0, EVENTS),)}
    keywords = {"kind": ERROR_KINDS, "stage": STAGES}
    for path, tree in _sources(AGENT):
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            for index, names in positions.get(_callee(call), ()):
                if index < len(call.args):
                    yield _where(path, call), _text(call.args[index]), names
            for keyword in call.keywords:
                if keyword.arg in keywords and _callee(call) in positions:
                    yield _where(path, call), _text(keyword.value), keywords[keyword.arg]


def test_the_agent_names_only_stages_events_and_error_kinds_of_the_contract() -> None:
    checked = list(_agent_names())
    assert len(checked) > 40  # the scan sees the agent's calls
    stray = [(where, name) for where, name, names in checked if name is not None and name not in names]
    assert not stray


def test_every_name_of_the_contract_classes_exists() -> None:
    missing = [_where(path, node) for path, tree in _sources(PACKAGE) for node in ast.walk(tree)
               if (text := _text(node)) and text.startswith("<no ")]
    assert not missing


def _compared_field(node: ast.AST) -> str | None:
    """'event' or 'kind' for x.get("event"), x["kind"], x.kind; else None."""
    if isinstance(node, ast.Call) and _callee(node) == "get" and node.args:
        return _text(node.args[0])
    if isinstance(node, ast.Subscript):
        return _text(node.slice)
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def test_the_host_compares_and_writes_events_and_error_kinds_through_the_contract() -> None:
    """No literal event or error kind where the host reads (`event.get("event") == "error"`) or writes
    (`{"kind": "killed", ...}`) one."""
    stray = []
    for path, tree in _sources(PACKAGE):
        if path.is_relative_to(AGENT):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                if any(_compared_field(side) in ("event", "kind") for side in sides):
                    literals = [s for side in sides for s in (side.elts if isinstance(side, ast.Tuple) else [side])
                                if isinstance(s, ast.Constant) and s.value in PROTOCOL_NAMES]
                    stray += [_where(path, node)] if literals else []
            elif isinstance(node, ast.Dict):
                stray += [_where(path, node) for key, value in zip(node.keys, node.values)
                          if key is not None and _text(key) in ("event", "kind")
                          and isinstance(value, ast.Constant) and value.value in PROTOCOL_NAMES]
    assert not stray


def _docstrings(tree: ast.Module) -> set[int]:
    holders = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                      ast.ClassDef)))]
    return {id(h.body[0].value) for h in holders
            if h.body and isinstance(h.body[0], ast.Expr) and isinstance(h.body[0].value, ast.Constant)}


def test_the_work_dir_layout_is_spelled_only_in_the_contract() -> None:
    """No source but spec.py spells `blobs`, `compiled`, `device.lock` or `.tmp-` as a string (alone, quoted inside
    a code snippet, or starting an f-string)."""
    stray = []
    for path, tree in _sources(PACKAGE):
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in docs:
                continue
            text = node.value
            if any(text == name or f'"{name}"' in text or f"'{name}'" in text for name in LAYOUT) \
                    or text.startswith(spec.PARTIAL_PREFIX):
                stray.append((_where(path, node), text[:40]))
    assert not stray


def test_the_lists_are_built_from_the_classes() -> None:
    assert STAGES[0] == Stage.START and STAGES[-1] == Stage.CONTEXT and len(set(STAGES)) == len(STAGES)
    assert spec.FINAL_EVENTS == (Event.RESULT, Event.ERROR) and set(spec.FINAL_EVENTS) < set(EVENTS)
    assert set(HOST_ERROR_KINDS).isdisjoint(ERROR_KINDS) and ErrorKind.MEMORY in ERROR_KINDS
    assert spec.MEASURING[0] == Stage.LOAD and Stage.LOCK not in spec.MEASURING


def _table_names(doc: str, heading: str) -> list[str]:
    """The first-column names (`name`) of the markdown table under `heading`."""
    section = doc.split(heading, 1)[1]
    rows = re.findall(r"^\| `([^`]+)` \|", section.split("\n\n#", 1)[0], flags=re.M)
    return rows


@pytest.mark.parametrize(("heading", "names"), [("### Error kinds", ERROR_KINDS), ("| event | keys", EVENTS)])
def test_the_protocol_doc_lists_what_the_contract_lists(heading: str, names: tuple[str, ...]) -> None:
    doc = (ROOT / "docs" / "agent-protocol.md").read_text(encoding="utf-8")
    assert _table_names(doc, heading) == list(names)


def test_the_result_schema_doc_shows_every_section() -> None:
    doc = (ROOT / "docs" / "result-schema.md").read_text(encoding="utf-8")
    example = doc.split("```json", 1)[1].split("```", 1)[0]
    assert [s for s in RESULT_SECTIONS if f'"{s}":' not in example] == []
