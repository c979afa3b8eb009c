"""`ipsbot poster` writes a page whose two QR codes read back as the web link and the Telegram link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.cli import main

try:
    from pyzbar import pyzbar
except (ImportError, OSError):  # pyzbar, or Debian's libzbar0 under it, is missing (.ci/run installs both)
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("pyzbar with libzbar0 is needed to read the codes back", allow_module_level=True)


@pytest.mark.parametrize(("programme", "lang"), [("reconnect", "da"), ("jonkoping", "sv")])
def test_poster_codes_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, programme: str, lang: str) -> None:
    from PIL import Image

    monkeypatch.setenv("WEB_URL", "https://ips.example.org")
    monkeypatch.setenv("BOT_USERNAME", "ips_intake_bot")
    out = tmp_path / "poster.png"
    assert main(["poster", "--programme", programme, "--lang", lang, "--out", str(out)]) == 0
    found = {code.data.decode() for code in pyzbar.decode(Image.open(out))}
    assert found == {f"https://ips.example.org/p/{programme}?lang={lang}",
                     f"https://t.me/ips_intake_bot?start={programme}"}


def test_poster_as_pdf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_URL", "https://ips.example.org")
    monkeypatch.setenv("BOT_USERNAME", "ips_intake_bot")
    out = tmp_path / "poster.pdf"
    assert main(["poster", "--programme", "reconnect", "--lang", "da", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF") and out.read_bytes().count(b"/Type /Page") >= 1
