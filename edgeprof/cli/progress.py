"""A rich progress display fed by the agent's JSON-line events, one line per device x model."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from edgeprof.agent.spec import FINAL_EVENTS, Event


class AgentProgress:
    """Turns agent events into progress bars on stderr; warnings are printed as they come, each text once when
    `seen` (shared between displays: watch's ticks) remembers those already printed."""

    def __init__(self, console: Console, *, quiet: bool = False, seen: set[str] | None = None) -> None:
        self._console = console
        self._quiet = quiet
        self._seen = seen
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=quiet or not console.is_terminal,  # bars only on a terminal: a pipe got one blank line of them
        )
        self._tasks: dict[tuple[str, str], TaskID] = {}

    def __enter__(self) -> "AgentProgress":
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)  # type: ignore[arg-type]

    def on_event(self, device: str, model: str, event: dict[str, Any]) -> None:
        """Show one agent event for (device, model)."""
        key = (device, model)
        if key not in self._tasks:
            self._tasks[key] = self._progress.add_task(f"{device} {model}: starting", total=None)
        task = self._tasks[key]
        kind = event.get("event")
        if kind == Event.PROGRESS:
            self._progress.update(
                task,
                description=f"{device} {model}: {event.get('stage', '')}",
                completed=event.get("done", 0),
                total=event.get("total"),
            )
        elif kind == Event.WARNING and not self._quiet:
            message = f"{device} {model}: warning: {event.get('message', '')}"
            if self._seen is not None and message in self._seen:
                return
            if self._seen is not None:
                self._seen.add(message)
            self._progress.console.print(f"[yellow]{escape(message)}[/yellow]", highlight=False)
        elif kind in FINAL_EVENTS:
            self._progress.update(task, description=f"{device} {model}: {kind}", completed=1, total=1)
