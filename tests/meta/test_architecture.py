"""The layers of `docs/architecture.md`, enforced: what may import what, and a core without Telegram words.

The core is `flows/`, `storage/`, `bot/services/` and `bot/exports/`; channels live in `bot/channels/`.
Imports are read from the source (also those inside functions), so a cycle hidden in a function is
found too. "Hold the line" (docs/architecture.md): no module over 400 lines, no function over cyclomatic
complexity 12 (ruff's C901), and no Telegram word in `flows/` or `bot/services/`, not even in prose.
"""

from __future__ import annotations

import ast
import io
import itertools
import re
import subprocess
import sys
import tokenize
import tomllib
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
    "bot.services": ("bot.channels", "bot.cli", "bot.exports", *CHANNEL_LIBRARIES),
    "bot.exports": ("bot.channels", "bot.cli", *CHANNEL_LIBRARIES),
}

# A Telegram word: the libraries' and the Bot API's names anywhere in a word, and "chat" (or "chats") as a word
# or as a part of a name between underscores, dots or digits (`chat`, `chat_id`, `Chat`, "chat."), but not
# inside another word ("chateau"). A core names a conversation, a message or an address instead.
TELEGRAM_WORDS = re.compile(r"telegram|aiogram|message_id|bot_id|(?<![a-z])chats?(?![a-z])", re.IGNORECASE)
# Names in the core that still say Telegram, each with the reason it stays (file, word as written).
ALLOWED_WORDS: dict[tuple[str, str], str] = {
    # the poster prints a QR code of the Telegram deep link beside the web link: a link, no channel code
    ("bot/exports/poster.py", "telegram"): "the poster's Telegram link",
    ("bot/exports/poster.py", "poster.scan_telegram"): "the caption of that link",
    # the contact preference "write to me here" is stored as "chat" in referrals and exported as such
    # (`contact_preference`); its message ids are `q.contact.chat*`: data and catalogues rely on the value
    ("flows/questions.py", "chat"): "a stored option id of the contact question",
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


# --- hold the line ------------------------------------------------------------------------------------

# Prose (comments and docstrings) in these folders says no Telegram word either: the next engineer reads
# the words first. Other core folders are held to their code's words (test_the_core_says_nothing_of_telegram).
PROSE_CORE = ("flows", "bot/services")
# Prose that still says Telegram, each with its reason (file, word as written: the run of letters, digits,
# `_`, `.` and `-` around the match).
ALLOWED_PROSE: dict[tuple[str, str], str] = {
    # the setting's name, as issue 22 and the README give it: the prose points the reader at it
    ("bot/services/staff_detail.py", "STAFF_CHAT_DETAIL"): "the setting's name",
    ("bot/services/offers.py", "STAFF_CHAT_DETAIL"): "the setting's name",
    ("bot/services/escalation.py", "STAFF_CHAT_DETAIL"): "the setting's name",
}


def prose_in(path: Path) -> list[tuple[int, str]]:
    """The comments and docstrings of a module, each with its first line."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found = [(node.lineno, node.value) for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and id(node) in docstrings and isinstance(node.value, str)]
    found += [(token.start[0], token.string) for token in tokenize.generate_tokens(io.StringIO(source).readline)
              if token.type == tokenize.COMMENT]
    return sorted(found)


def telegram_words(text: str) -> list[str]:
    """Each Telegram word of `text`, as written (the run of letters, digits, `_`, `.` and `-` it is in)."""
    return [run[0] for run in re.finditer(r"[\w.-]+", text) if TELEGRAM_WORDS.search(run[0])]


def test_the_core_says_nothing_of_telegram_in_prose() -> None:
    found, used = [], set()
    for folder in PROSE_CORE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for line, text in prose_in(path):
                for word in telegram_words(text):
                    key = (relative, word.strip(".-"))
                    if key in ALLOWED_PROSE:
                        used.add(key)
                    else:
                        found.append(f"{relative}:{line}: {word!r}")
    assert found == []
    assert used == set(ALLOWED_PROSE), "an allowed word is gone: drop it from ALLOWED_PROSE"


# Modules over the limit that others are splitting now; the lead empties this at merge. Each says where.
MAX_LINES = 400
SIZE_FOLDERS = ("bot", "flows", "storage", "locales", "tests/support", "tests/fake_telegram")
LARGE_FOR_NOW: dict[str, str] = {
}


def test_no_module_is_over_400_lines() -> None:
    sizes = {}
    for folder in SIZE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if not relative.startswith(HISTORY) and ".venv" not in path.parts:
                sizes[relative] = len(path.read_text(encoding="utf-8").splitlines())
    assert sizes, "no modules found: the folders moved?"
    too_long = {name: n for name, n in sizes.items() if n > MAX_LINES and name not in LARGE_FOR_NOW}
    assert too_long == {}
    # an entry whose module was split (or moved) must go, so that the list only shrinks
    assert [name for name in LARGE_FOR_NOW if sizes.get(name, 0) <= MAX_LINES] == []


MAX_COMPLEXITY = 12
# Modules with functions over the limit that others are rewriting now, each waived by a noqa comment for
# C901 on the function's line; the lead removes those comments and empties this at merge.
COMPLEX_FOR_NOW: dict[str, str] = {
}


WAIVER = re.compile(r"#\s*n[o]qa:[^\n]*C901")  # "n[o]qa": not itself read as a waiver by ruff


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                           str(ROOT / "pyproject.toml"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)


def test_complexity_is_held_at_12_by_ruff() -> None:
    """ruff's C901 (run by test_quality.py) holds the limit: selected, at 12, waived only where listed."""
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]["lint"]
    assert "C901" in lint["select"] or "C" in lint["select"] or "C90" in lint["select"]
    assert lint["mccabe"]["max-complexity"] == MAX_COMPLEXITY
    assert not any(code.startswith("C9") for code in lint.get("ignore", []))
    assert not any(code.startswith("C9") for codes in lint.get("per-file-ignores", {}).values() for code in codes)
    waived = set()
    for folder in (*PACKAGES, "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if ".venv" not in path.parts and WAIVER.search(path.read_text(encoding="utf-8")):
                waived.add(path.relative_to(ROOT).as_posix())
    assert waived == set(COMPLEX_FOR_NOW)


def test_the_complexity_check_counts_as_ruff_does(tmp_path: Path) -> None:
    """A function of complexity 12 passes the project's ruff settings, one of 13 does not."""
    def function(branches: int) -> str:
        body = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(branches))
        return f"def f(x: int) -> int:\n{body}    return -1\n"

    at_limit, over = tmp_path / "at_limit.py", tmp_path / "over.py"
    at_limit.write_text(function(MAX_COMPLEXITY - 1), encoding="utf-8")
    over.write_text(function(MAX_COMPLEXITY), encoding="utf-8")
    assert _ruff("--select", "C901", str(at_limit)).returncode == 0
    done = _ruff("--select", "C901", str(over))
    assert done.returncode == 1 and "C901" in done.stdout, done.stdout + done.stderr


def test_the_prose_check_sees_what_it_looks_for(tmp_path: Path) -> None:
    """Comments and docstrings are read; `chat` counts as a word or a part of a name, not inside a word."""
    sample = tmp_path / "sample.py"
    sample.write_text('"""Sent to the Telegram chat."""\n\nx = 1  # the chat_id of a chateau\n'
                      'y = "chat"  # a string is code, not prose\n', encoding="utf-8")
    words = [word for _, text in prose_in(sample) for word in telegram_words(text)]
    assert words == ["Telegram", "chat.", "chat_id"]


STRICT_MODULES = {"flows", "flows.*", "bot.services", "bot.services.*"}


def test_flows_and_services_are_typed_as_mypy_strict() -> None:
    """The override for flows/ and bot/services/ sets every flag `mypy --strict` sets (test_quality.py runs
    mypy). mypy takes no `strict` per module, so the flags are listed; a flag a newer mypy adds fails here."""
    from mypy.main import define_options  # mypy's own list of what --strict turns on
    from mypy.options import PER_MODULE_OPTIONS

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    overrides = [o for o in config.get("overrides", []) if set(o["module"]) >= STRICT_MODULES]
    assert len(overrides) == 1, "one override names flows and bot.services"
    _, _, strict = define_options()
    assert strict, "mypy's strict flags not found"
    missing = [f"{dest} = {value}" for dest, value in strict
               if (overrides[0] if dest in PER_MODULE_OPTIONS else config).get(dest) is not value]
    assert missing == []


# Each status is an enum, named once; a raw string of one of its values in a status context elsewhere
# is a second, silent definition. FHIR's resources have their own status codes ("active", "completed").
STATUS_ENUMS = {"flows/status.py": ("IntakeStatus", "ReferralStatus"), "storage/models/records.py": ("FollowUpStatus",),
                "flows/escalation.py": ("Status",)}
STATUS_ALLOWED = {"flows/fhir.py": "FHIR's own status codes"}


def status_values() -> dict[str, set[str]]:
    """Each status enum's values, by the module that defines it (read from the source, as the check reads)."""
    found: dict[str, set[str]] = {}
    for relative, names in STATUS_ENUMS.items():
        for node in ast.walk(ast.parse((ROOT / relative).read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name in names:
                found.setdefault(relative, set()).update(
                    item.value.value for item in node.body if isinstance(item, ast.Assign)
                    and isinstance(item.value, ast.Constant) and isinstance(item.value.value, str))
    return found


def _is_status(node: ast.AST) -> bool:
    """`x.status`, `status`, `x.get("status")`, `x["status"]`."""
    if isinstance(node, ast.Attribute):
        return node.attr == "status"
    if isinstance(node, ast.Name):
        return node.id == "status"
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "status"
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == "status")


def _literals(node: ast.AST | None, values: set[str]) -> list[str]:
    """The status values written as raw strings in `node`, alone or in a tuple, list or set."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in values:
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [v for element in node.elts for v in _literals(element, values)]
    return []


def raw_statuses(path: Path, values: set[str], whole: set[str]) -> list[tuple[int, str]]:
    """(line, value) of each raw status string in a status context: compared with a status, given as
    `status=`, assigned to a status, passed to `status.in_(...)`, or a module constant made only of the
    values of one intake or referral status (`whole`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(_is_status(side) for side in (node.left, *node.comparators)):
            found += [(node.lineno, v) for side in (node.left, *node.comparators) for v in _literals(side, values)]
        elif isinstance(node, ast.keyword) and node.arg == "status":
            found += [(node.value.lineno, v) for v in _literals(node.value, values)]
        elif isinstance(node, ast.Assign | ast.AnnAssign) and any(
                _is_status(t) for t in (node.targets if isinstance(node, ast.Assign) else [node.target])):
            found += [(node.lineno, v) for v in _literals(node.value, values)]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "in_"
              and _is_status(node.func.value)):
            found += [(node.lineno, v) for arg in node.args for v in _literals(arg, values)]
        elif isinstance(node, ast.arguments):
            named = [*node.posonlyargs, *node.args]
            pairs = [*zip(named[len(named) - len(node.defaults):], node.defaults, strict=True),
                     *zip(node.kwonlyargs, node.kw_defaults, strict=True)]
            found += [(default.lineno, v) for arg, default in pairs if arg.arg == "status" and default is not None
                      for v in _literals(default, values)]
    for statement in tree.body:  # CLOSED = ("declined", "withdrawn"): a status set written out again
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Tuple | ast.List | ast.Set):
            written = _literals(statement.value, whole)
            if len(written) >= 2 and len(written) == len(statement.value.elts):
                found += [(statement.lineno, v) for v in written]
    return found


def test_statuses_are_written_once() -> None:
    defined = status_values()
    everything = set().union(*defined.values())
    intake_or_referral = defined["flows/status.py"]
    found = []
    for package in ("bot", "flows", "storage"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(HISTORY) or relative in STATUS_ALLOWED or ".venv" in relative:
                continue
            values = everything - defined.get(relative, set())  # its own enum's module writes the values
            found += [f"{relative}:{line}: {value!r}" for line, value in raw_statuses(path, values, intake_or_referral)]
    assert found == [], "use the status enum (flows/status.py and the others in STATUS_ENUMS)"


def test_the_status_check_sees_raw_statuses(tmp_path: Path) -> None:
    """Each context the check reads, once with a raw status (found) and once with the enum (not found)."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        'CLOSED = ("declined", "withdrawn")\n'
        'def f(intake, state, q, status="new"):\n'
        '    if intake.status == "active" or state.get("status") in ("completed",) or state["status"] != "x":\n'
        '        q.add(status="claimed")\n'
        '    intake.status = "waiting"\n'
        '    q.where(Intake.status.in_(["redirected"]))\n'
        '    if intake.status == IntakeStatus.ACTIVE or event.kind == "declined":\n'
        '        q.add(status=ReferralStatus.NEW, kind="closed")\n', encoding="utf-8")
    values = set().union(*status_values().values())
    found = raw_statuses(sample, values, status_values()["flows/status.py"])
    assert sorted(found) == [(1, "declined"), (1, "withdrawn"), (2, "new"), (3, "active"), (3, "completed"),
                             (4, "claimed"), (5, "waiting"), (6, "redirected")]
