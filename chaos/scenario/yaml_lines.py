"""YAML with line numbers: the data plus the 1-based line of every mapping key and sequence item."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

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


class ScenarioLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core-schema scalars, as editors read drill files: ``2e9`` is a
    number (YAML 1.1 wants ``2.0e+9``) and only ``true``/``false`` are booleans (``no``, ``on`` stay
    strings, so ``restart_policy: {name: no}`` means the policy ``no``)."""


def _core_schema_resolvers() -> None:
    resolvers = {
        first: [(tag, regexp) for tag, regexp in entries if tag != "tag:yaml.org,2002:bool"]
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    ScenarioLoader.yaml_implicit_resolvers = resolvers
    ScenarioLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    ScenarioLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)$"),
        list("-+.0123456789"),
    )


_core_schema_resolvers()


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
    """Parse one YAML document (safe loader). Raises :class:`YamlSyntaxError` with the line."""
    loader = ScenarioLoader(text)
    try:
        node = loader.get_single_node()
        lines = LineMap()
        if node is None:
            return None, lines
        lines.lines[()] = node.start_mark.line + 1
        _walk(node, (), lines, set())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = exc.problem or exc.context or "invalid YAML"
        if mark is not None:
            message += f" (column {mark.column + 1})"
        if exc.problem and exc.context:
            started = f" on line {exc.context_mark.line + 1}" if exc.context_mark is not None else ""
            message += f"; {exc.context}{started}"
        raise YamlSyntaxError(line, message) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, str(exc).replace("\n", " ")) from None
    finally:
        loader.dispose()
    return data, lines
