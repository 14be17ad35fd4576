"""The layers edgeprof keeps apart, held the way test_import_graph holds cycles (every import counts: module level,
in functions, under TYPE_CHECKING): the agent imports nothing of the host; the transports no orchestration;
renderers no transport, orchestration, store, judging or recommending; the CLI reaches devices, the store and the
judge only through the pipeline.

An import a rule forbids but the code still has is listed in KNOWN, named for the work that removes it; an entry
the code no longer needs fails the test too, so the list only shrinks."""

from __future__ import annotations

import pytest

from tests.core.test_import_graph import import_graph

ORCHESTRATION = ("edgeprof.deploy", "edgeprof.pipeline", "edgeprof.lab", "edgeprof.fleet", "edgeprof.watch")
JUDGING = ("edgeprof.constraints", "edgeprof.recommend")
DEVICES = ("edgeprof.transport", "edgeprof.agent_bundle")

# layer -> (the modules it covers, the modules they may not import)
RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "agent": ("edgeprof.agent", ("edgeprof",)),
    "transport": ("edgeprof.transport", (*ORCHESTRATION, "edgeprof.agent_bundle", "edgeprof.store",
                                         "edgeprof.cli")),
    "renderers": ("edgeprof.report", (*ORCHESTRATION, *DEVICES, *JUDGING, "edgeprof.store", "edgeprof.cli")),
    "cli": ("edgeprof.cli", (*DEVICES, "edgeprof.deploy", "edgeprof.lab", *JUDGING)),
}
# (layer, importer, imported) the rules forbid that the code still has.
KNOWN = {
    # clean's orchestration (reach the place, build the agent) still lives in transport/cache.py
    ("transport", "edgeprof.transport.cache", "edgeprof.agent_bundle"),
    ("transport", "edgeprof.transport.cache", "edgeprof.lab"),
    # renderers that still judge or recommend instead of drawing one report model
    ("renderers", "edgeprof.report.html", "edgeprof.recommend"),
    ("renderers", "edgeprof.report.junit", "edgeprof.constraints"),
    ("renderers", "edgeprof.report.plots", "edgeprof.recommend"),
    ("renderers", "edgeprof.report.recommendation", "edgeprof.constraints"),
    ("renderers", "edgeprof.report.recommendation", "edgeprof.recommend"),
    # commands that still carry pipeline logic
    ("cli", "edgeprof.cli.clean_cmd", "edgeprof.transport.cache"),
    ("cli", "edgeprof.cli.deploy_cmds", "edgeprof.constraints"),
    ("cli", "edgeprof.cli.deploy_cmds", "edgeprof.deploy"),
    ("cli", "edgeprof.cli.deploy_cmds", "edgeprof.lab"),
    ("cli", "edgeprof.cli.watch_cmd", "edgeprof.constraints"),
    ("cli", "edgeprof.cli.watch_cmd", "edgeprof.deploy"),
}


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def crossings(layer: str) -> set[tuple[str, str, str]]:
    """(layer, importer, imported) for every import of the layer its rule forbids."""
    covers, forbidden = RULES[layer]
    return {(layer, module, imported) for module, imports in import_graph().items() if _under(module, covers)
            for imported in imports if not _under(imported, covers) and any(_under(imported, f) for f in forbidden)}


@pytest.mark.parametrize("layer", sorted(RULES))
def test_a_layer_imports_only_what_its_rule_allows(layer: str) -> None:
    found = crossings(layer)
    known = {entry for entry in KNOWN if entry[0] == layer}
    assert sorted(found - known) == [], "new imports across the layer"
    assert sorted(known - found) == [], "gone from the code: remove them from KNOWN"


def test_the_rules_see_the_modules_they_cover() -> None:
    graph = import_graph()
    assert all(any(_under(module, covers) for module in graph) for covers, _ in RULES.values())
