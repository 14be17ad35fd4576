"""What a newcomer meets first: --version, -h, an example in every --help, usage errors in one plain line."""

from __future__ import annotations

import subprocess
import sys

import pytest
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
