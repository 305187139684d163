"""YAML with line numbers: the data plus the 1-based line of every mapping key and sequence item. Read with
the bounded loader of :mod:`crashlab.safe_yaml` (size, depth, alias expansion, integer digits)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from crashlab.safe_yaml import YamlError, compose_yaml, construct

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlSyntaxError(Exception):
    line: int
    message: str


@dataclass
class LineMap:
    """``lines[(key, 0, "name")]`` is the line of that key or item; :meth:`line` finds the nearest."""

    lines: dict[Path_, int] = field(default_factory=dict)
    #: (path of the duplicated key, its line of the second occurrence)
    duplicates: list[tuple[Path_, int]] = field(default_factory=list)

    def line(self, path: Path_) -> int:
        """The line of ``path`` or of its nearest recorded ancestor (1 for the document)."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return self.lines.get((), 1)


def _walk(node: yaml.Node, path: Path_, out: LineMap, seen: set[int]) -> None:
    if id(node) in seen:  # an alias: already walked where the anchor is
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: set[object] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                _walk(value_node, path, out, seen)
                continue
            key = key_node.value
            child = (*path, key)
            if key in keys:
                out.duplicates.append((child, key_node.start_mark.line + 1))
            keys.add(key)
            out.lines.setdefault(child, key_node.start_mark.line + 1)
            _walk(value_node, child, out, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            out.lines.setdefault(child, item.start_mark.line + 1)
            _walk(item, child, out, seen)


def load_yaml(text: str) -> tuple[Any, LineMap]:
    """Parse one YAML document within the bounds of :mod:`crashlab.safe_yaml`. Raises
    :class:`YamlSyntaxError` with the line."""
    try:
        loader, node = compose_yaml(text)
    except YamlError as exc:
        raise YamlSyntaxError(exc.line or 1, exc.message) from None
    try:
        lines = LineMap()
        if node is None:
            return None, lines
        lines.lines[()] = node.start_mark.line + 1
        _walk(node, (), lines, set())
        return construct(loader, node, text), lines
    except YamlError as exc:
        raise YamlSyntaxError(exc.line or 1, exc.message) from None
    finally:
        loader.dispose()
