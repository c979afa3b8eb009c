"""Encryption at rest without a database: keys, wrong keys, rotation, keyed hash, key file."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from storage.crypto import (
    Cipher,
    EncryptedJSON,
    WrongKeyError,
    configure,
    current,
    hash_key_from_setting,
    keyed_hash,
    keys_from_setting,
    load_cipher,
)


def test_round_trip() -> None:
    cipher = Cipher([Fernet.generate_key()])
    token = cipher.encrypt("Jeg har det svært".encode())
    assert "svært".encode() not in token
    assert cipher.decrypt(token).decode() == "Jeg har det svært"


def test_wrong_key_raises_wrong_key_error() -> None:
    token = Cipher([Fernet.generate_key()]).encrypt(b"secret")
    other = Cipher([Fernet.generate_key()])
    with pytest.raises(WrongKeyError, match="configured encryption key") as raised:
        other.decrypt(token)
    assert raised.value.__cause__ is None
    with pytest.raises(WrongKeyError):
        other.rotate(token)


def test_rotation_decrypts_old_tokens_and_rotate_uses_newest_key() -> None:
    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    hash_key = Fernet.generate_key()
    old = Cipher([old_key], hash_key)
    token = old.encrypt(b"answer")

    rotated_cipher = Cipher([new_key, old_key], hash_key)
    assert rotated_cipher.decrypt(token) == b"answer"
    rotated = rotated_cipher.rotate(token)
    assert Cipher([new_key]).decrypt(rotated) == b"answer"  # readable with the new key alone
    with pytest.raises(WrongKeyError):
        Cipher([old_key]).decrypt(rotated)
    # the pinned hash key keeps look-ups working across the rotation
    assert rotated_cipher.keyed_hash("telegram:42") == old.keyed_hash("telegram:42")


def test_keyed_hash() -> None:
    key = Fernet.generate_key()
    cipher = Cipher([key])
    digest = cipher.keyed_hash("telegram:123456789")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest == Cipher([key]).keyed_hash("telegram:123456789")  # derived key is deterministic
    assert digest != Cipher([Fernet.generate_key()]).keyed_hash("telegram:123456789")
    assert digest != cipher.keyed_hash("telegram:123456780")
    # pinning the derived hash key keeps hashes stable after prepending a new key
    pinned = Cipher([Fernet.generate_key(), key], cipher.hash_key_text.encode())
    assert pinned.keyed_hash("telegram:123456789") == digest


def test_invalid_keys_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Cipher([])
    with pytest.raises(ValueError, match="#2 is not a valid key"):
        Cipher([Fernet.generate_key(), b"not-a-key"])
    with pytest.raises(ValueError, match="ENCRYPTION_KEY entry #1"):
        keys_from_setting("short", Path("/nonexistent/keys"))


def test_keys_from_setting_prefers_the_variable(tmp_path: Path) -> None:
    first, second = Fernet.generate_key(), Fernet.generate_key()
    key_file = tmp_path / "keys"
    keys = keys_from_setting(f" {first.decode()} , {second.decode()} ", key_file)
    assert keys == [first, second]
    assert not key_file.exists()
    assert hash_key_from_setting(None, key_file) is None


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key_file = tmp_path / "state" / "keys"
    with caplog.at_level(logging.WARNING, logger="storage.crypto"):
        keys = keys_from_setting(None, key_file)
    assert len(keys) == 1
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert any("created a new key file" in record.getMessage() for record in caplog.records)
    assert str(key_file) in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="storage.crypto"):
        assert keys_from_setting("", key_file) == keys  # read back, not made again
    assert not caplog.records

    hash_key = hash_key_from_setting(None, key_file)
    assert hash_key is not None and hash_key not in keys
    cipher = load_cipher(None, None, key_file)
    assert cipher.hash_key_text.encode() == hash_key
    assert cipher.decrypt(Cipher(keys).encrypt(b"x")) == b"x"


def test_hash_key_setting_wins(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    assert hash_key_from_setting(key.decode(), tmp_path / "keys") == key
    with pytest.raises(ValueError, match="ENCRYPTION_HASH_KEY"):
        hash_key_from_setting("nope", tmp_path / "keys")


def test_registry_and_column_type(cipher: Cipher) -> None:
    assert current() is cipher
    assert keyed_hash("console:1") == cipher.keyed_hash("console:1")
    column_type = EncryptedJSON()
    token = column_type.process_bind_param({"answer": "ængstelig"}, dialect=None)  # type: ignore[arg-type]
    assert token is not None and "ængstelig".encode() not in token
    assert column_type.process_result_value(token, dialect=None) == {"answer": "ængstelig"}  # type: ignore[arg-type]
    assert column_type.process_bind_param(None, dialect=None) is None  # type: ignore[arg-type]
    configure(None)
    with pytest.raises(RuntimeError, match="configure"):
        current()


def test_readable_key_file_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key_file = tmp_path / "keys"
    keys_from_setting(None, key_file)
    key_file.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="storage.crypto"):
        keys_from_setting(None, key_file)
    assert "chmod 600" in caplog.text
