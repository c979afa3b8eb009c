"""A read-only install works: the wheel carries the compiled catalogues, and nothing is written into it.

As in a container or a system package: the wheel is built (its build compiles the ``.mo`` files, see
``setup.py``), installed into a folder, the folder made read-only, and `ipsbot chat` run from it with
piped answers. Danish and Swedish texts on the screen show that the catalogues load from the install.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from locales import Translator
from tests.e2e.console_process import process_env

ROOT = Path(__file__).resolve().parents[2]


def _make_writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The wheel, built from this tree and installed into a read-only folder."""
    work = tmp_path_factory.mktemp("install")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"),
                            str(ROOT)], capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (work / "dist").glob("ipsbot-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for lang in ("da", "sv", "en"):  # compiled when built, and only the compiled form is shipped
        assert f"locales/{lang}/LC_MESSAGES/messages.mo" in names
        assert f"locales/{lang}/LC_MESSAGES/messages.po" not in names
    target = work / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile",
                           "--target", str(target), str(wheel)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    subprocess.run(["chmod", "-R", "a-w", str(target)], check=True)
    try:
        yield target
    finally:
        _make_writable(target)  # so that pytest can remove it


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder of the install with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def run(installed: Path, cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    # the installed folder first on the path, a working folder outside this source tree; no byte-code
    # either, since root (as in CI) may write into a folder without write bits
    env = process_env(cwd, PYTHONPATH=str(installed), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, *args], input=stdin, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_installed_package_is_the_one_that_runs(installed: Path, tmp_path: Path) -> None:
    shown = run(installed, tmp_path, "-c", "import bot.cli, locales, flows; print(bot.cli.__file__, "
                "locales.__file__, flows.__file__)")
    assert shown.returncode == 0, shown.stderr
    assert all(Path(p).is_relative_to(installed) for p in shown.stdout.split()), shown.stdout


@pytest.mark.parametrize("lang", ["da", "sv"])
def test_ipsbot_chat_runs_from_a_read_only_install_in_its_language(installed: Path, tmp_path: Path,
                                                                  lang: str) -> None:
    before = snapshot(installed)
    # the language screen (this language first), then the first information screen; end of input: saved
    done = run(installed, tmp_path, "-m", "bot.cli", "chat", "--programme", "reconnect", "--lang", lang, stdin="1\n")
    assert done.returncode == 0, done.stderr[-3000:]
    t, english = Translator(lang), Translator("en")
    assert t("console.choose_hint") in done.stdout, done.stdout[-2000:]
    assert t("console.choose_hint") != english("console.choose_hint")
    assert english("console.choose_hint") not in done.stdout  # the catalogue, not the English fallback
    assert snapshot(installed) == before, "the run wrote into the installed package"
    assert list(tmp_path.glob("*.db")), "the chat did not store its answers in the working folder"
