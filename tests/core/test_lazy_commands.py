"""The CLI imports only the module of the command it runs; `edgeprof.cli.COMMANDS` names every command's module."""

from __future__ import annotations

import subprocess
import sys

from edgeprof import cli


def test_every_command_and_group_is_in_the_table_with_the_module_that_defines_it() -> None:
    app = cli.command_app()
    defined = {info.name: info.callback.__module__ for info in app.registered_commands}
    for group in app.registered_groups:
        modules = {info.callback.__module__ for info in group.typer_instance.registered_commands}
        assert len(modules) == 1, f"the commands of '{group.name}' come from {sorted(modules)}"
        defined[group.name] = modules.pop()
    assert {name: f"edgeprof.cli.{module}" for name, module in cli.COMMANDS.items()} == defined
    shown = subprocess.run([sys.executable, "-m", "edgeprof", "--help"], capture_output=True, text=True,
                           timeout=60).stdout.split("Commands:")[1].split("\n\n")[0].splitlines()
    assert [line.split()[0] for line in shown if line.startswith("  ")] == list(cli.COMMANDS)  # in `--help` order


def _loaded(*argv: str) -> set[str]:
    """The edgeprof modules imported by `edgeprof ARGV` (run in a fresh interpreter)."""
    code = (f"import sys; sys.argv = ['edgeprof', *{list(argv)!r}]\nfrom edgeprof.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('LOADED=' + ','.join(sorted(m for m in sys.modules if m.startswith('edgeprof'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    return set(out.rsplit("LOADED=", 1)[1].strip().split(","))


def test_a_command_imports_only_its_own_module() -> None:
    runs = _loaded("runs", "list", "--help")
    assert "edgeprof.cli.runs_cmds" in runs and not {"edgeprof.cli.deploy_cmds", "edgeprof.deploy", "edgeprof.pipeline",
                                                     "edgeprof.cli.check_cmds"} & runs
    deploy = _loaded("--debug", "deploy", "--help")
    assert "edgeprof.cli.deploy_cmds" in deploy and not {"edgeprof.cli.check_cmds", "edgeprof.cli.emulate_cmds",
                                                         "edgeprof.cli.dataset_cmds", "edgeprof.emulate.vm"} & deploy


def test_help_before_a_command_and_an_unknown_command_see_every_command() -> None:
    every = {f"edgeprof.cli.{module}" for module in cli.COMMANDS.values()}
    assert every <= _loaded("--help", "runs")
    assert every <= _loaded("no-such-command")
    unknown = subprocess.run([sys.executable, "-m", "edgeprof", "deplyo"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "deplyo" in unknown.stderr
