"""YAML that remembers where things are: every key's and item's line, ${VAR} expansion.

Used by config.py so that a validation error can name the file, the line and the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from bot.errors import ConfigError


def load_yaml(text: str, name: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """The data and the line of every key and item, from one parse: the node tree is
    composed once, its lines indexed, and the data constructed from it (as safe_load would)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[tuple[Any, ...], int] = {}
        if node is not None:
            # before constructing: construction merges `<<:` keys into the node in place
            index_lines(node, (), lines, name)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(f"invalid YAML: {exc.problem or exc}", file=name, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=name) from None
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping (feeds:, channels:, ...)", file=name,
                          line=1)
    return data, lines


def index_lines(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int],
                 name: str) -> None:
    """Record the line of every key and item; refuse duplicate keys (YAML keeps the last)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            sub = (*path, key)
            if sub in lines:
                raise ConfigError(f"duplicate key {key!r} (also on line {lines[sub]})", file=name,
                                  line=key_node.start_mark.line + 1, key=key_name(sub))
            lines[sub] = key_node.start_mark.line + 1
            index_lines(value_node, sub, lines, name)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            index_lines(item, (*path, i), lines, name)


_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(data: Any, env: Mapping[str, str], name: str,
                lines: Mapping[tuple[Any, ...], int], path: tuple[Any, ...] = ()) -> Any:
    """${VAR} and ${VAR:-default} in string values, so Docker users keep ids out of the file."""
    if isinstance(data, dict):
        return {k: expand_env(v, env, name, lines, (*path, k)) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_env(v, env, name, lines, (*path, i)) for i, v in enumerate(data)]
    if isinstance(data, str) and "${" in data:
        def sub(m: re.Match[str]) -> str:
            value = env.get(m.group(1), m.group(2))
            if value is None:
                raise ConfigError(f"environment variable {m.group(1)} is not set", file=name,
                                  line=line_for(lines, path), key=key_name(path))
            return value
        return _ENV_RE.sub(sub, data)
    return data


def line_for(lines: Mapping[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def key_name(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not part.startswith("function-"):
            out += f".{part}" if out else part
    return out
