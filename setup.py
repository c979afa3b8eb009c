"""Compiles the gettext catalogues (``locales/*/LC_MESSAGES/messages.po``) when the package is built.

A wheel carries the ``.mo`` files, so an installed bot never writes into its own package folder (a
read-only install, as in a container or a system package, works). An editable install (``pip install
-e .``) writes them beside the ``.po`` files, where the source tree's package reads them. Everything
else is in ``pyproject.toml``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithCatalogues(build_py):
    """`build_py`, then the ``.mo`` files: into the build folder, or in place for an editable install."""

    def run(self) -> None:
        super().run()
        sys.path.insert(0, str(ROOT))  # the project's own `locales`, whatever the build's working folder
        try:
            from locales import compile_catalogues
        finally:
            sys.path.remove(str(ROOT))
        target = ROOT / "locales" if self.editable_mode else Path(self.build_lib) / "locales"
        for mo in compile_catalogues(target):
            self.announce(f"compiled {mo}", level=2)
            if not self.editable_mode:  # the wheel carries what is read, not its source (nor a stale-check on it)
                mo.with_suffix(".po").unlink(missing_ok=True)


setup(cmdclass={"build_py": BuildWithCatalogues})
