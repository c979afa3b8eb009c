"""`ipsbot chat --web` / `ipsbot web` as a real process: prints the local address, serves the form."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from cryptography.fernet import Fernet

from tests.support.net import free_port


def test_chat_web_prints_the_address_and_serves_the_form(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'web.db'}",
           "ENCRYPTION_KEY": Fernet.generate_key().decode(), "WEB_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "chat", "--programme", "reconnect", "--web"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line == f"reconnect: http://127.0.0.1:{port}/p/reconnect"
        with urllib.request.urlopen(line.split(": ", 1)[1], timeout=10) as response:
            page = response.read().decode()
        assert response.status == 200 and '<html lang="da">' in page and 'name="csrf"' in page
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
