"""What a newcomer meets first: --version, -h, an example in every --help, usage errors in one plain line."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer
from typer._click import Command, Context
from typer.core import TyperGroup
from typer.testing import CliRunner

from edgeprof import __version__
from edgeprof.cli import command_app
from edgeprof.cli.examples import EXAMPLES


def edgeprof(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *args], capture_output=True, text=True, timeout=120)


def test_version_and_short_help() -> None:
    version = edgeprof("--version")
    assert (version.returncode, version.stdout) == (0, f"edgeprof {__version__}\n")
    short = edgeprof("-h")
    assert short.returncode == 0 and "Commands" in short.stdout and "Example: edgeprof deploy" in short.stdout
    assert "Example: edgeprof runs tag latest baseline" in edgeprof("runs", "tag", "-h").stdout


@pytest.mark.parametrize("command", sorted(EXAMPLES))
def test_every_command_help_ends_with_its_example(command: str) -> None:
    result = CliRunner().invoke(command_app(None), [*command.split(), "--help"], prog_name="edgeprof", terminal_width=200)
    assert result.exit_code == 0, result.output
    assert f"Example: {EXAMPLES[command]}" in result.output
    assert "Store.tag" not in result.output


def test_every_command_has_an_example() -> None:
    app = command_app(None)
    names = {c.name for c in app.registered_commands} | {
        f"{g.name} {c.name}" for g in app.registered_groups if g.typer_instance for c in g.typer_instance.registered_commands}
    assert names == set(EXAMPLES)


def test_a_usage_error_is_one_line_without_a_doubled_prefix() -> None:
    for args, start in ((("--nope",), "edgeprof: error: No such option: --nope"),
                        (("deploy", "--nope"), "edgeprof: error: deploy: No such option: --nope")):
        proc = edgeprof(*args)
        assert proc.returncode == 2 and proc.stderr.startswith(start), proc.stderr
        assert len(proc.stderr.splitlines()) == 1


def test_group_help_does_not_cut_a_sentence_and_deploy_documents_its_options() -> None:
    runs = CliRunner().invoke(command_app(None), ["runs", "--help"], prog_name="edgeprof", terminal_width=200)
    assert "Name a run (a baseline for check and watch)." in runs.output
    deploy = CliRunner().invoke(command_app(None), ["deploy", "--help"], prog_name="edgeprof", terminal_width=200)
    for option, words in (("--max-runs", "Most timed runs"), ("--seed", "Seed of the random timing inputs"),
                          ("--p99-bound", "--find-max-qps must keep")):
        assert option in deploy.output and words in deploy.output, option


# A metavar names what the user types: upper-case words for what they fill in (PATH, DIR, N, SECONDS, DEVICE,
# RUN_A), lower-case only for literal values (a choice such as random|dataset, a prefix such as labgrid:), with
# [optional], ',...' repetition, ':' '=' '.' as the value is written, and x between dims (HxW).
PLACEHOLDER = re.compile(r"^(?:[a-z]+:)?(?:[A-Z][A-Z0-9_]*|[\[\]:=,.]|(?<=[A-Z])x(?=[A-Z]))+$")
LITERAL = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _commands() -> dict[str, tuple[Command, Context]]:
    """Every command as click builds it from the app, by its name ('runs tag'), with a context to render it in."""
    found = {}

    def walk(command: Command, path: list[str], parent: Context | None) -> None:
        ctx = Context(command, info_name=" ".join(["edgeprof", *path]), parent=parent)
        if isinstance(command, TyperGroup):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name], ctx)
        else:
            found[" ".join(path)] = (command, ctx)

    walk(typer.main.get_command(command_app(None)), [], None)
    return found


def _well_formed(metavar: str) -> bool:
    return all(PLACEHOLDER.match(part) or LITERAL.match(part) for part in metavar.split("|"))


def test_every_metavar_and_usage_line_has_one_style() -> None:
    commands = _commands()
    assert set(commands) == set(EXAMPLES)
    bad = []
    for name, (command, ctx) in commands.items():
        for param in command.get_params(ctx):
            if getattr(param, "is_flag", False) or param.hidden:
                continue
            metavar = param.make_metavar(ctx)
            if not _well_formed(metavar):
                bad.append(f"{name} {param.opts[0]}: {metavar!r}")
        for piece in command.collect_usage_pieces(ctx):
            if not _well_formed(piece):
                bad.append(f"{name} usage: {piece!r}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("command", sorted(EXAMPLES))
def test_no_help_page_shows_a_type_for_a_metavar(command: str) -> None:
    """What typer writes for an option without a metavar ('<path>', '<int range>') or an argument's usage ('{run_a}')."""
    page = CliRunner().invoke(command_app(None), [*command.split(), "--help"], prog_name="edgeprof",
                              terminal_width=200).output
    assert not re.search(r"<[a-z ]+>|\{\w+\}", page), page
