"""The layering rules of docs/architecture.md, held on the import graph as the cycle test holds cycles.

Every import counts (module level, in functions, under TYPE_CHECKING): the agent imports nothing of the host;
renderers import no judging, transport or orchestration; the transport imports no orchestration; device profiles
import no judging; the CLI goes through the plan and the pipeline; one module judges.
"""

from __future__ import annotations

import ast

import pytest

from tests.core.test_import_graph import PACKAGE, import_graph

JUDGING = {"edgeprof.verdicts"}
ORCHESTRATION = {"edgeprof.deploy", "edgeprof.pipeline", "edgeprof.watch", "edgeprof.doctor"}
TRANSPORT = "edgeprof.transport"


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _offending(sources: str, forbidden: set[str] | tuple[str, ...]) -> dict[str, set[str]]:
    """Each module under `sources` with the forbidden modules (or packages) it imports."""
    found = {}
    for name, imported in import_graph().items():
        if _under(name, sources):
            bad = {i for i in imported if any(_under(i, f) for f in forbidden)}
            if bad:
                found[name] = bad
    return found


def test_the_agent_imports_nothing_of_the_host() -> None:
    graph = import_graph()
    host = {name: {i for i in imported if not _under(i, "edgeprof.agent")}
            for name, imported in graph.items() if _under(name, "edgeprof.agent")}
    assert {name: bad for name, bad in host.items() if bad} == {}


def test_renderers_import_no_judging_transport_or_orchestration() -> None:
    forbidden = {*JUDGING, *ORCHESTRATION, TRANSPORT, "edgeprof.lab", "edgeprof.store"}
    assert _offending("edgeprof.report", forbidden) == {}


def test_transport_imports_no_orchestration_or_judging() -> None:
    assert _offending(TRANSPORT, {*ORCHESTRATION, *JUDGING, "edgeprof.pipeline"}) == {}


@pytest.mark.parametrize("module", ["edgeprof.devices", "edgeprof.constraints", "edgeprof.decisions",
                                    "edgeprof.result", "edgeprof.project"])
def test_definitions_import_no_judging(module: str) -> None:
    assert _offending(module, JUDGING | ORCHESTRATION) == {}


def test_only_the_judge_produces_a_status() -> None:
    """Status members are built (Status.FAIL, Status("fail")) only where statuses are decided or drawn; nothing but
    edgeprof.verdicts writes a verdict row's status."""
    writers = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
                if "status" in keys and "constraint" in keys:
                    writers.append(str(path.relative_to(PACKAGE)))
    assert sorted(set(writers)) == ["verdicts.py"]


def test_the_cli_goes_through_the_pipeline() -> None:
    """Commands parse, call the plan, the pipeline or their home module, and render: they never judge, deploy or
    reach a device themselves."""
    forbidden = {*JUDGING, "edgeprof.constraints", "edgeprof.deploy", TRANSPORT, "edgeprof.lab"}
    assert _offending("edgeprof.cli", forbidden) == {}
