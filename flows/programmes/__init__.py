"""Programmes as data: one YAML file each (shipped beside this module, more in PROGRAMMES_DIR).

A programme names its country, languages, age range, instruments, triage rules, caseload cap,
crisis resources and contact text (the model: `flows/programmes/model.py`). ``check`` validates files
and reports errors with file and line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from flows import yamlfile
from flows.programmes.model import (
    DEFAULT_OUTCOME_COUNTS,
    REGION_NUMBER_LINES,
    REGIONAL_LINES,
    REGIONAL_NUMBERS,
    REGIONS,
    AgeRange,
    CrisisLine,
    FollowUp,
    FollowUpTrigger,
    Programme,
    RuleSpec,
    known_facts,
    normalise_place,
)

__all__ = [
    "DEFAULT_OUTCOME_COUNTS", "REGIONAL_LINES", "REGIONAL_NUMBERS", "REGIONS", "REGION_NUMBER_LINES", "SHIPPED_DIR",
    "AgeRange", "CrisisLine", "FollowUp", "FollowUpTrigger", "Problem", "Programme", "ProgrammeError", "Registry",
    "RuleSpec", "check", "known_facts", "normalise_place", "parse_file", "programme_files",
]

SHIPPED_DIR = Path(__file__).resolve().parent


# --- loading with line numbers -------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """Records the line of every mapping key so errors can point into the file."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    yamlfile.refuse_duplicates(loader, node)  # a key given twice is an error with its line, not the last one wins
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=True)
    lines = {}
    for key_node, _ in node.value:
        lines[loader.construct_object(key_node, deep=True)] = key_node.start_mark.line + 1
    mapping["__lines__"] = lines
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k not in ("__lines__", "__line__")}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def _line_of(raw: Any, loc: tuple[int | str, ...]) -> int:
    line = raw.get("__line__", 1) if isinstance(raw, dict) else 1
    node = raw
    for part in loc:
        if isinstance(node, dict):
            line = node.get("__lines__", {}).get(part, line)
            node = node.get(part)
            if isinstance(node, dict):
                line = node.get("__line__", line)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            if isinstance(node, dict):
                line = node.get("__line__", line)
        else:
            break
    return int(line)


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def parse_file(path: Path) -> tuple[Programme | None, list[Problem]]:
    try:
        raw = yaml.load(yamlfile.text_of(path), Loader=_LineLoader)
    except yamlfile.NotUtf8Error as exc:
        return None, [Problem(path, exc.line, exc.message)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [Problem(path, (mark.line + 1) if mark else 1, f"not valid YAML: {exc}")]
    if not isinstance(raw, dict):
        return None, [Problem(path, 1, "a programme file must be a mapping")]
    try:
        programme = Programme.model_validate(_strip_lines(raw))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if isinstance(p, int | str))
            where = ".".join(str(p) for p in loc) or "(file)"
            problems.append(Problem(path, _line_of(raw, loc), f"{where}: {err['msg']}"))
        return None, problems
    if programme.id != path.stem:
        return None, [Problem(path, raw["__lines__"].get("id", 1), "id must match the file name")]
    return programme, []


def programme_files(extra_dir: Path | None = None) -> list[Path]:
    files = sorted(SHIPPED_DIR.glob("*.yaml"))
    if extra_dir is not None:
        files += sorted(Path(extra_dir).glob("*.yaml"))
    return files


def check(paths: Iterable[Path]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, Path] = {}
    for path in paths:
        programme, found = parse_file(path)
        problems += found
        if programme is not None:
            if programme.id in seen:
                problems.append(Problem(path, 1, f"programme id {programme.id!r} also in {seen[programme.id]}"))
            seen[programme.id] = path
    return problems


class ProgrammeError(ValueError):
    pass


class Registry:
    """The programmes a process serves, loaded once and validated."""

    def __init__(self, programmes: Mapping[str, Programme]) -> None:
        self._by_id = dict(programmes)

    @classmethod
    def load(cls, extra_dir: Path | None = None) -> Registry:
        paths = programme_files(extra_dir)
        problems = check(paths)
        if problems:
            raise ProgrammeError("\n".join(str(p) for p in problems))
        loaded: dict[str, Programme] = {}
        for path in paths:
            programme, found = parse_file(path)
            if programme is None:  # checked above; a file changed in between
                raise ProgrammeError("\n".join(str(p) for p in found) or f"{path}: cannot be read")
            loaded[programme.id] = programme
        return cls(loaded)

    def get(self, programme_id: str | None) -> Programme | None:
        return self._by_id.get(programme_id or "")

    def __getitem__(self, programme_id: str) -> Programme:
        return self._by_id[programme_id]

    def __contains__(self, programme_id: object) -> bool:
        return programme_id in self._by_id

    def all(self) -> list[Programme]:
        return list(self._by_id.values())

    def for_language(self, lang: str) -> list[Programme]:
        """Programmes offered to someone speaking `lang` (all of them for English)."""
        if lang == "en":
            return self.all()
        return [p for p in self._by_id.values() if lang in p.languages] or self.all()
