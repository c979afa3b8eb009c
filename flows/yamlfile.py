"""Reading the programme and instrument YAML files strictly: a duplicate key is an error with its
file and line (YAML's own rule; PyYAML would let the last one win silently, so an appended `age:` or
`instruments: []` would replace what the file said above), and a file that is not UTF-8 is named in
one line instead of failing with a decoder's traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError


def refuse_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> None:
    """Raise (a YAML error, with the later key's line) if a mapping names a key twice."""
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: the loader itself refuses it
            continue
        if first is not None:  # also on the same line: {x: 1, x: 2}
            raise ConstructorError(None, None, f"duplicate key {key!r} (first on line {first})",
                                   key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1


class StrictLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a key given twice in one mapping."""


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    refuse_duplicates(loader, node)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class NotUtf8Error(yaml.YAMLError):
    """The file is not UTF-8 (a YAML error, so the callers that report bad YAML report this too)."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.line = line
        self.message = message


def text_of(path: Path) -> str:
    """The file's text; a file that is not UTF-8 raises NotUtf8Error naming it and the first bad byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise NotUtf8Error(path, line, f"not UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8") from None


def load(path: Path) -> Any:
    """The YAML file's data, strictly; any problem raises ValueError as one line, `file:line: what`."""
    try:
        return yaml.load(text_of(path), Loader=StrictLoader)  # a SafeLoader: no Python objects
    except NotUtf8Error as exc:
        raise ValueError(str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValueError(f"{path}:{(mark.line + 1) if mark else 1}: {' '.join(str(problem).split())}") from None
