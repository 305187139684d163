"""The one way crashlab reads YAML that users give it (drill files, profiles): bounded before it expands.

PyYAML's safe loader is safe from code execution, not from size: a 400-byte file of nested aliases
("billion laughs") stands for hundreds of millions of nodes once anything walks it, nesting runs into
Python's recursion limit, a 5,000-digit integer fails inside ``int()``. Here every bound is checked while
the file is read and composed, before anything is built from it:

- only regular files (no ``/dev/zero``, FIFO or socket), at most :data:`MAX_FILE_BYTES`, UTF-8;
- at most :data:`MAX_DEPTH` levels of nesting;
- at most :data:`MAX_NODES` nodes counted with every alias expanded, at most :data:`MAX_ALIASES` aliases,
  no alias inside its own anchor (a recursive structure);
- integers of at most :data:`MAX_INT_DIGITS` digits.

Scalars follow YAML 1.2's core schema, as editors read drill files: ``2e9`` is a number (YAML 1.1 wants
``2.0e+9``) and only ``true``/``false`` are booleans (``no``, ``on`` stay strings, so
``restart_policy: {name: no}`` means the policy ``no``).

Every failure is a :class:`YamlError` naming the file, the line and what is wrong.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

try:
    from yaml._yaml import CParser as EventParser
except ImportError:  # a PyYAML built without libyaml: the same events from its pure-Python parser

    class EventParser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


from crashlab.errors import CrashlabError

#: the largest YAML file read (the drill library's largest is under 5 KiB)
MAX_FILE_BYTES = 256 * 1024
#: nodes (scalars, sequences, mappings) with every alias expanded
MAX_NODES = 20_000
MAX_ALIASES = 1_000
MAX_DEPTH = 64
MAX_INT_DIGITS = 32


class YamlError(CrashlabError):
    """A YAML file or text that cannot be read within the bounds; ``str()`` is ``path:line: message``."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}" if line is not None else f"{path}: {message}")


class SafeYamlLoader(Composer, EventParser, SafeConstructor, Resolver):
    """PyYAML's safe loader with YAML 1.2 core-schema scalars and the bounds of this module, checked
    while composing (so a file is refused before anything expands). The events come from libyaml (six
    times faster than PyYAML's own parser); the composing is PyYAML's, with the bounds."""

    def __init__(self, stream: str) -> None:
        EventParser.__init__(self, stream)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        Composer.__init__(self)
        self._depth = 0
        self._aliases = 0
        #: id(node) -> its node count with aliases expanded (absent while the node is being composed)
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()
        mark: Any = event.start_mark if event is not None else None
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise ComposerError(None, None, f"more than {MAX_ALIASES} aliases", mark)
            if node is None or id(node) not in self._sizes:
                raise ComposerError(
                    None, None, "an alias inside its own anchor (a recursive structure)", mark
                )
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is None:
            return None
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes[id(item)] for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        if size > MAX_NODES:
            start: Any = node.start_mark
            raise ComposerError(
                None, None, f"more than {MAX_NODES} nodes once its aliases are expanded", start
            )
        self._sizes[id(node)] = size
        return node

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = sum(c.isalnum() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise ConstructorError(
                None, None, f"an integer of {digits} digits (at most {MAX_INT_DIGITS})", node.start_mark
            )
        value: int = super().construct_yaml_int(node)
        return value


def _core_schema_resolvers() -> None:
    resolvers = {
        first: [(tag, regexp) for tag, regexp in entries if tag != "tag:yaml.org,2002:bool"]
        for first, entries in Resolver.yaml_implicit_resolvers.items()
    }
    SafeYamlLoader.yaml_implicit_resolvers = resolvers
    SafeYamlLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    SafeYamlLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)$"),
        list("-+.0123456789"),
    )
    SafeYamlLoader.yaml_constructors = {
        **SafeConstructor.yaml_constructors,
        "tag:yaml.org,2002:int": SafeYamlLoader.construct_yaml_int,
    }


_core_schema_resolvers()


def read_yaml_text(path: Path | str, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of a regular file of at most ``max_bytes``, as UTF-8; else :class:`YamlError`."""
    name = str(path)
    try:
        # O_NONBLOCK: opening a FIFO without a writer must not hang; nothing but a regular file is read
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise YamlError(name, None, f"cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if stat.S_ISDIR(mode):
            raise YamlError(name, None, "cannot read: is a directory")
        if not stat.S_ISREG(mode):
            raise YamlError(name, None, "cannot read: not a regular file (a device, FIFO or socket)")
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise YamlError(name, None, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise YamlError(name, None, f"too large: over {max_bytes} bytes (the limit of a YAML file)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise YamlError(name, line, f"not UTF-8 text (byte {exc.start})") from None


def _error(exc: yaml.YAMLError, text: str, where: str) -> YamlError:
    if isinstance(exc, yaml.reader.ReaderError):
        # libyaml counts bytes of the UTF-8 text (PyYAML's own reader characters: the same for ASCII)
        line = text.encode("utf-8", "surrogateescape")[: exc.position].count(b"\n") + 1
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        return YamlError(where, line, f"character {char!r} is not allowed in YAML")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = exc.problem or exc.context or "invalid YAML"
        if mark is not None:
            message += f" (column {mark.column + 1})"
        if exc.problem and exc.context:
            started = f" on line {exc.context_mark.line + 1}" if exc.context_mark is not None else ""
            message += f"; {exc.context}{started}"
        return YamlError(where, line, message)
    return YamlError(where, 1, str(exc).replace("\n", " "))


def compose_yaml(text: str, where: str = "<string>") -> tuple[SafeYamlLoader, yaml.Node | None]:
    """The node tree of one document within the bounds (``None`` for an empty one) and its loader, to
    :meth:`~SafeYamlLoader.construct_document` it; the caller disposes of the loader."""
    try:
        loader = SafeYamlLoader(text)
    except yaml.YAMLError as exc:  # the reader checks every character up front
        raise _error(exc, text, where) from None
    try:
        return loader, loader.get_single_node()
    except yaml.YAMLError as exc:
        loader.dispose()
        raise _error(exc, text, where) from None
    except RecursionError:
        loader.dispose()
        raise YamlError(where, None, "nested too deeply") from None


def construct(loader: SafeYamlLoader, node: yaml.Node, text: str, where: str = "<string>") -> Any:
    """The Python data of a node that :func:`compose_yaml` returned."""
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _error(exc, text, where) from None


def load_yaml_text(text: str, where: str = "<string>") -> Any:
    """One YAML document within the bounds; :class:`YamlError` names ``where`` and the line."""
    loader, node = compose_yaml(text, where)
    try:
        return None if node is None else construct(loader, node, text, where)
    finally:
        loader.dispose()


def load_yaml_file(path: Path | str) -> Any:
    """The one YAML document of a user's file within the bounds; :class:`YamlError` otherwise."""
    return load_yaml_text(read_yaml_text(path), str(path))
