"""Accelerator choices as users write them: `--ep tensorrt:trt_fp16_enable=1,cuda,cpu`, `--delegate xnnpack`,
and `providers = [...]` / `delegates = [...]` in a profile's [runtime] table."""

from __future__ import annotations

from edgeprof.agent.spec import Accelerator
from edgeprof.errors import ConfigError


def parse_accelerators(text: str, where: str) -> tuple[Accelerator, ...]:
    """An ordered list of providers or delegates with options: `name[:key=value[,key=value]][,name...]`.

    A piece with `=` and no `:` is another option of the accelerator before it; a piece with neither is the next
    accelerator. `where` names the option or file key in errors.
    """
    chosen: list[tuple[str, dict[str, str]]] = []
    for piece in (p.strip() for p in text.split(",")):
        name, colon, option = piece.partition(":") if ":" in piece and "=" not in piece.partition(":")[0] \
            else ("", "", piece) if "=" in piece else (piece, "", "")
        if colon or not option:
            if not name:
                raise ConfigError(f"{where} {text!r}: an empty accelerator name (expected e.g. 'openvino' or "
                                  "'tensorrt:trt_fp16_enable=1,cuda,cpu')")
            chosen.append((name, {}))
        if option:
            key, equals, value = option.partition("=")
            if not chosen or not equals or not key.strip():
                raise ConfigError(f"{where} {text!r}: '{option}' is not a key=value option of an accelerator")
            chosen[-1][1][key.strip()] = value.strip()
    return tuple(Accelerator(name, options) for name, options in chosen)


def configurations(texts: list[str], option: str) -> tuple[tuple[Accelerator, ...], ...]:
    """One configuration per repeated option (`--ep cpu --ep openvino`)."""
    return tuple(parse_accelerators(text, option) for text in texts)


def accelerator_text(chosen: tuple[Accelerator, ...]) -> str:
    """The list as a user would type it again (options included)."""
    return ",".join(a.name + "".join((":" if i == 0 else ",") + f"{k}={v}" for i, (k, v) in enumerate(a.options.items()))
                    for a in chosen)
