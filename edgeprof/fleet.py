"""Fleets: the device names of a plain list file or of a group in an Ansible-style INI inventory; the tags of a
`labgrid:` source (its places are listed by edgeprof.lab.place_profiles)."""

from __future__ import annotations

from pathlib import Path

from edgeprof.artifacts import check_regular_file, printable
from edgeprof.errors import ConfigError

LABGRID_PREFIX = "labgrid:"


def read_devices_file(path: str | Path) -> list[str]:
    """Device names from FILE (one per line, # comments) or FILE:GROUP (an INI inventory's `[GROUP]` section,
    `[GROUP:children]` followed; the first token of each host line, `key=value` host variables ignored).
    ConfigError for a FILE that is not a regular one (a FIFO would block), not UTF-8, or holds control characters
    (NUL, ESC: they would reach the terminal in messages)."""
    text_path, group = _split(str(path))
    check_regular_file(Path(text_path), "devices file")
    try:
        lines = Path(text_path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{printable(text_path)}: cannot read the devices file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{printable(text_path)}: the devices file is not UTF-8 text (byte {exc.start})") from None
    for number, line in enumerate(lines, 1):
        if any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in line):
            raise ConfigError(f"{printable(text_path)}, line {number}: a control character in "
                              f"{ascii(line)} (device names are plain text)")
    sections = _sections(lines)
    if group is None:
        if set(sections) - {""}:
            raise ConfigError(f"{text_path}: an inventory with groups; name one as {text_path}:GROUP "
                              f"(groups: {', '.join(_group_names(sections))})")
        names = sections.get("", [])
    else:
        names = _group(sections, group, text_path, [])
    names = list(dict.fromkeys(names))
    if not names:
        raise ConfigError(f"{path}: no device names")
    return names


def _split(spec: str) -> tuple[str, str | None]:
    """'inventory.ini:pis' -> ('inventory.ini', 'pis'); a path that exists as given is never split."""
    if Path(spec).exists() or ":" not in spec:
        return spec, None
    head, _, group = spec.rpartition(":")
    return head, group or None


def _sections(lines: list[str]) -> dict[str, list[str]]:
    """Section name ('' before any header) -> first tokens of its non-comment lines."""
    sections: dict[str, list[str]] = {}
    current = ""
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            sections.setdefault(current, [])
            continue
        sections.setdefault(current, []).append(line.split()[0])
    return sections


def _group(sections: dict[str, list[str]], group: str, path: str, seen: list[str]) -> list[str]:
    """The hosts of a group and, through `[group:children]`, of its child groups."""
    if group in seen:
        raise ConfigError(f"{path}: group '{group}' contains itself ({' -> '.join([*seen, group])})")
    if group == "all":  # Ansible's implicit group of every host
        return [n for name, hosts in sections.items() if ":" not in name for n in hosts]
    if group not in sections and f"{group}:children" not in sections:
        raise ConfigError(f"{path}: no group [{group}] (groups: {', '.join(_group_names(sections)) or 'none'})")
    names = list(sections.get(group, []))
    for child in sections.get(f"{group}:children", []):
        names += _group(sections, child, path, [*seen, group])
    return names


def _group_names(sections: dict[str, list[str]]) -> list[str]:
    return sorted({name.split(":")[0] for name in sections if name})


def labgrid_tags(spec: str) -> dict[str, str] | None:
    """`--devices-from labgrid:board=pi4,slot=1` -> the tags; None for a file source."""
    if not spec.startswith(LABGRID_PREFIX):
        return None
    tags: dict[str, str] = {}
    for item in filter(None, spec[len(LABGRID_PREFIX):].split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--devices-from {spec}: tags are KEY=VALUE[,KEY=VALUE...], got '{item}'")
        tags[key.strip()] = value.strip()
    return tags
