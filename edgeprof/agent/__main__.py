"""Agent entry point: `python agent.pyz` reads a RunSpec on stdin; `python agent.pyz --doctor` describes the device,
`--board` only the board (arch, cores, CPU model, RAM)."""

from __future__ import annotations

import json
import os
import sys
import time


def _doctor() -> int:
    from .doctor import doctor_facts

    print(json.dumps(doctor_facts(os.getcwd())))
    return 0


def _board() -> int:
    from .doctor import board_facts

    print(json.dumps(board_facts()))
    return 0


def _run() -> int:
    from . import AGENT_VERSION
    from .protocol import claim_stdout, emit, watch_stdin
    from .spec import AgentFailure, ErrorKind, Event

    claim_stdout()
    emit(Event.HELLO, agent_version=AGENT_VERSION, python=sys.version.split()[0], pid=os.getpid())
    try:
        from .run import emit_result, measure  # numpy and the probes, while the host still pushes the model
        from .spec import parse_spec

        waiting = time.perf_counter()
        spec = parse_spec(sys.stdin.readline())
        waited_s = time.perf_counter() - waiting
        watch_stdin()
        emit_result(measure(spec, waited_s))
        return 0
    except AgentFailure as failure:
        emit(Event.ERROR, kind=failure.kind, message=failure.message, stage=failure.stage)
    except MemoryError:
        emit(Event.ERROR, kind=ErrorKind.MEMORY, message="the agent ran out of memory (MemoryError)", stage=None)
    except ImportError as exc:
        emit(Event.ERROR, kind=ErrorKind.RUNTIME_MISSING, message=f"missing on the device: {exc}", stage=None)
    except Exception as exc:  # a bug in the agent: still one structured line
        emit(Event.ERROR, kind=ErrorKind.INTERNAL, message=f"{type(exc).__name__}: {exc}", stage=None)
    return 1


def main() -> None:
    """Dispatch on argv; the exit code is 0 after a result, 1 after an error."""
    code = {"--doctor": _doctor, "--board": _board}.get(" ".join(sys.argv[1:]), _run)()
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
