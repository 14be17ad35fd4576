"""The generation settings `deploy` sends with a GGUF model: `--prompts` (JSON lines), `--context`, `--max-tokens`,
`--perplexity-text`."""

from __future__ import annotations

import json
from pathlib import Path

from edgeprof.agent.spec import GenerationSettings
from edgeprof.artifacts import check_regular_file, printable
from edgeprof.errors import ConfigError

MAX_TEXT_FILE_BYTES = 4 * 2**20  # the prompts and the text travel inside the one-line RunSpec


def read_text(path: Path, what: str) -> str:
    """A UTF-8 text file of at most MAX_TEXT_FILE_BYTES; ConfigError naming it otherwise."""
    check_regular_file(path, what)
    if path.stat().st_size > MAX_TEXT_FILE_BYTES:
        raise ConfigError(f"{what} {printable(str(path))} is over {MAX_TEXT_FILE_BYTES // 2**20} MB")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {printable(str(path))}: not readable UTF-8 text ({exc})") from None


def load_prompts(path: Path) -> tuple[str, ...]:
    """The prompts of a JSON-lines file: each non-blank line an object with a non-empty string `prompt` (or that
    string alone); ConfigError naming the file and line otherwise."""
    shown = printable(str(path))
    lines = read_text(path, "prompts file").splitlines()
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


def generation_settings(prompts: Path | None, context: str | None, max_tokens: int,
                        perplexity_text: Path | None = None) -> GenerationSettings:
    """The RunSpec's `generation` section from the command line (the shipped prompts and perplexity passage when
    `prompts` and `perplexity_text` are None)."""
    text = read_text(perplexity_text, "perplexity text") if perplexity_text else None
    if text is not None and not text.strip():
        raise ConfigError(f"perplexity text {printable(str(perplexity_text))} is empty")
    return GenerationSettings(prompts=load_prompts(prompts) if prompts else None, max_tokens=max_tokens,
                              contexts=parse_contexts(context) if context else GenerationSettings.contexts,
                              perplexity_text=text)
