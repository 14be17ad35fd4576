"""The generation settings `deploy` sends with a GGUF model: `--prompts` (JSON lines), `--context`, `--max-tokens`."""

from __future__ import annotations

import json
from pathlib import Path

from edgeprof.agent.spec import GenerationSettings
from edgeprof.artifacts import check_regular_file, printable
from edgeprof.errors import ConfigError

MAX_PROMPT_FILE_BYTES = 4 * 2**20  # the prompts travel inside the one-line RunSpec


def load_prompts(path: Path) -> tuple[str, ...]:
    """The prompts of a JSON-lines file: each non-blank line an object with a non-empty string `prompt` (or that
    string alone); ConfigError naming the file and line otherwise."""
    shown = printable(str(path))
    check_regular_file(path, "prompts file")
    if path.stat().st_size > MAX_PROMPT_FILE_BYTES:
        raise ConfigError(f"prompts file {shown} is over {MAX_PROMPT_FILE_BYTES // 2**20} MB")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"prompts file {shown}: not readable UTF-8 text ({exc})") from None
    prompts = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"prompts file {shown} line {number}: not JSON ({exc.msg})") from None
        prompt = item.get("prompt") if isinstance(item, dict) else item
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigError(f"prompts file {shown} line {number}: needs a non-empty string \"prompt\"")
        prompts.append(prompt)
    if not prompts:
        raise ConfigError(f"prompts file {shown} holds no prompts")
    return tuple(prompts)


def parse_contexts(text: str) -> tuple[int, ...]:
    """`--context 128,512,2048`: the context depths whose memory is measured (positive integers)."""
    try:
        depths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        depths = ()
    if not depths or min(depths) < 1:
        raise ConfigError(f"--context must be positive token counts like 128,512,2048, got {text!r}")
    return depths


def generation_settings(prompts: Path | None, context: str | None, max_tokens: int) -> GenerationSettings:
    """The RunSpec's `generation` section from the command line (the shipped prompts when `prompts` is None)."""
    return GenerationSettings(prompts=load_prompts(prompts) if prompts else None, max_tokens=max_tokens,
                              contexts=parse_contexts(context) if context else GenerationSettings.contexts)
