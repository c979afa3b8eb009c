"""The layers of `docs/architecture.md`, enforced: what may import what, and a core without Telegram words.

The core is `flows/`, `storage/`, `bot/services/` and `bot/exports/`; channels live in `bot/channels/`.
Imports are read from the source (also those inside functions), so a cycle hidden in a function is
found too.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("flows", "storage", "bot", "locales")
CORE = ("flows", "storage", "bot/services", "bot/exports")
HISTORY = "storage/migrations/versions"  # past schemas are history: they keep the names they had
CHANNEL_LIBRARIES = ("aiogram", "telegram")  # python-telegram-bot is the package `telegram`

# What may import what: a module under the first prefix imports nothing under the others.
FORBIDDEN_IMPORTS: dict[str, tuple[str, ...]] = {
    "flows": ("bot", "storage", "sqlalchemy", "alembic", *CHANNEL_LIBRARIES),
    "storage": ("bot", *CHANNEL_LIBRARIES),
    "locales": ("bot", "storage", "flows", "sqlalchemy", *CHANNEL_LIBRARIES),
    "bot.services": ("bot.channels", "bot.cli", *CHANNEL_LIBRARIES),
    "bot.exports": ("bot.channels", "bot.cli", *CHANNEL_LIBRARIES),
}

TELEGRAM_WORDS = re.compile(r"telegram|aiogram|chat_id|message_id|bot_id", re.IGNORECASE)
# Names in the core that still say Telegram, each with the reason it stays (file, word as written).
ALLOWED_WORDS: dict[tuple[str, str], str] = {
    # the poster prints a QR code of the Telegram deep link beside the web link: a link, no channel code
    ("bot/exports/poster.py", "telegram"): "the poster's Telegram link",
    ("bot/exports/poster.py", "poster.scan_telegram"): "the caption of that link",
}


def modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if ".venv" in relative.parts:
                continue
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join(parts), path


def imports_of(name: str, path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function, resolved to absolute names."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from bot.services import intake`
    return found


def graph() -> dict[str, set[str]]:
    """The project's modules and which of them each imports."""
    known = dict(modules())
    return {name: {i for i in imports_of(name, path) if i in known and i != name} for name, path in known.items()}


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_layers_import_only_what_they_may() -> None:
    broken = []
    for name, path in modules():
        for layer, forbidden in FORBIDDEN_IMPORTS.items():
            if under(name, layer):
                broken += [f"{name} imports {i}" for i in sorted(imports_of(name, path))
                           if any(under(i, f) for f in forbidden)]
    assert broken == []


def test_no_import_cycles_between_modules() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    # a package importing its own submodules (an `__init__` re-export) is not a cycle between layers
    cycles = [c for c in cycles if not any(under(b, a) or under(a, b) for a, b in itertools.pairwise(c))]
    assert cycles == []


def test_repositories_own_the_sql() -> None:
    """No unit of work's session is used outside `storage/`, and services and exports import no SQLAlchemy."""
    found = []
    for name, path in modules():
        if not under(name, "bot"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr == "session" and isinstance(node.value, ast.Name)
                    and node.value.id == "uow"):
                found.append(f"{name}:{node.lineno} uses uow.session")
        if under(name, "bot.services") or under(name, "bot.exports"):
            found += [f"{name} imports {i}" for i in imports_of(name, path) if under(i, "sqlalchemy")]
    assert found == []


def test_production_code_checks_without_assert() -> None:
    """`assert` vanishes under `python -O`: a check that matters is an `if`."""
    found = [f"{name}:{node.lineno}" for name, path in modules()
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.Assert)]
    assert found == []


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string constants that are docstrings (of a module, class or function)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def words_in(path: Path) -> set[str]:
    """The names and string values of a module's code (comments and docstrings are prose, not code)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = _docstrings(tree)
    words: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif isinstance(node, ast.arg | ast.keyword) and node.arg:
            words.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            words.add(node.name)
        elif isinstance(node, ast.alias):
            words.update((node.name, node.asname or ""))
        elif isinstance(node, ast.ImportFrom) and node.module:
            words.add(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.add(node.value)
    return words


def test_the_core_says_nothing_of_telegram() -> None:
    found = []
    for folder in CORE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(HISTORY):
                continue
            for word in sorted(words_in(path)):
                if TELEGRAM_WORDS.search(word) and (relative, word) not in ALLOWED_WORDS:
                    found.append(f"{relative}: {word!r}")
    assert found == []


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    """The scanners find a Telegram name, a forbidden import inside a function, and ignore prose."""
    sample = tmp_path / "sample.py"
    sample.write_text('"""Telegram, in prose."""\n# chat_id in a comment\n\ndef f(chat_id: int) -> None:\n'
                      '    from aiogram import Bot\n', encoding="utf-8")
    assert {w for w in words_in(sample) if TELEGRAM_WORDS.search(w)} == {"chat_id", "aiogram"}
    assert "aiogram" in imports_of("bot.services.sample", sample)
