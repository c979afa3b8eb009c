"""Encryption at rest: keys, the `Cipher`, the keyed hash and the column types that use them.

Answers, conversation state, contact details and referral payloads are stored as Fernet tokens
(AES-128-CBC + HMAC-SHA256, from `cryptography`). Several keys may be configured at once so that
keys can be rotated: the first key encrypts, every key is tried when decrypting, and
`Cipher.rotate` re-encrypts an old token with the newest key.

Encrypted columns cannot be searched (each token differs), so values that must be looked up, such
as "which candidate is Telegram user 123?", are stored as a keyed hash (HMAC-SHA256). The hash key
must stay the same for the life of the database, also when the encryption keys are rotated:
otherwise nobody would be found again. It therefore is a key of its own:

- the key file (made on first run when `ENCRYPTION_KEY` is unset) holds the Fernet keys on its first
  line (comma-separated, newest first) and the hash key on its second line;
- with `ENCRYPTION_KEY`, the hash key comes from `ENCRYPTION_HASH_KEY`; when that is unset too it is
  derived (HKDF) from the *first* Fernet key. That is fine until the first rotation: before
  prepending a new key, set `ENCRYPTION_HASH_KEY` to `Cipher.hash_key_text` of the current cipher.

Both keys are url-safe base64 text of 32 random bytes (`Fernet.generate_key()` makes either).

SQLAlchemy column types reach the cipher through a small registry: the application calls
`configure(cipher)` once at start-up, and `EncryptedJSON` / `EncryptedText` call `current()`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import Dialect
from sqlalchemy.types import LargeBinary, TypeDecorator

__all__ = [
    "Cipher",
    "EncryptedJSON",
    "EncryptedText",
    "WrongKeyError",
    "configure",
    "current",
    "hash_key_from_setting",
    "keyed_hash",
    "keys_from_setting",
    "load_cipher",
]

log = logging.getLogger(__name__)

_HKDF_INFO = b"ipsbot keyed hash v1"
_KEY_FILE_HEADER = (
    "# ipsbot encryption keys. Keep this file secret and back it up: without it the stored\n"
    "# answers cannot be read. Line 1: Fernet keys, comma-separated, newest first (prepend a new\n"
    "# key to rotate). Line 2: the hash key for look-ups; never change it.\n"
)


class WrongKeyError(Exception):
    """Stored data cannot be decrypted with any configured key (wrong or missing key)."""


def _check_key(key: bytes, what: str) -> bytes:
    """Return `key` if it is url-safe base64 of 32 bytes, else raise a ValueError naming `what`."""
    try:
        raw = base64.urlsafe_b64decode(key)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(f"{what} is not a valid key (expected 32 url-safe base64-encoded bytes)")
    return key


class Cipher:
    """Encrypts and decrypts with a list of Fernet keys (newest first) and hashes with a stable key."""

    def __init__(self, keys: Sequence[bytes], hash_key: bytes | None = None) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        checked = [_check_key(key, f"encryption key #{number}") for number, key in enumerate(keys, 1)]
        self._fernet = MultiFernet([Fernet(key) for key in checked])
        self._key_count = len(checked)
        if hash_key is None:
            # Derived from the newest key only for convenience on a fresh install; see the module
            # docstring for why a rotation must pin it (key file line 2 / ENCRYPTION_HASH_KEY).
            self._hash_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
                base64.urlsafe_b64decode(checked[0])
            )
        else:
            self._hash_key = base64.urlsafe_b64decode(_check_key(hash_key, "hash key"))

    @property
    def hash_key_text(self) -> str:
        """The hash key as text, to pin it in `ENCRYPTION_HASH_KEY` before rotating keys."""
        return base64.urlsafe_b64encode(self._hash_key).decode("ascii")

    def encrypt(self, data: bytes) -> bytes:
        """Encrypt with the newest key."""
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        """Decrypt with whichever configured key fits; raise `WrongKeyError` if none does."""
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise self._wrong_key() from None

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt `token` with the newest key (it may have been made with any configured key)."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise self._wrong_key() from None

    def keyed_hash(self, value: str) -> str:
        """HMAC-SHA256 of `value` under the hash key, as 64 hex characters."""
        return _hmac_hex(self._hash_key, value)

    def _wrong_key(self) -> WrongKeyError:
        return WrongKeyError(
            f"stored data cannot be decrypted with any of the {self._key_count} configured encryption "
            "key(s); is ENCRYPTION_KEY (or the key file) the one the data was written with?"
        )


@functools.lru_cache(maxsize=4096)
def _hmac_hex(key: bytes, value: str) -> str:
    # cached: every answer looks its person up by the hash of their channel id (a few µs each in a
    # new HMAC object, which under load added up); the cache holds only ids the process saw anyway
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def _read_key_file(key_file: Path) -> list[str]:
    """The meaningful lines of a key file (comments and blank lines dropped)."""
    lines = key_file.read_text(encoding="ascii").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _split_keys(value: str, source: str) -> list[bytes]:
    keys = [part.strip().encode("ascii") for part in value.split(",") if part.strip()]
    if not keys:
        raise ValueError(f"{source} holds no encryption key")
    return [_check_key(key, f"{source} entry #{number}") for number, key in enumerate(keys, 1)]


def _create_key_file(key_file: Path) -> None:
    key_file.parent.mkdir(parents=True, exist_ok=True)
    content = f"{_KEY_FILE_HEADER}{Fernet.generate_key().decode()}\n{Fernet.generate_key().decode()}\n"
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(content)
    log.warning(
        "ENCRYPTION_KEY is not set: created a new key file at %s. Back it up; without it the stored "
        "answers cannot be read.",
        key_file,
    )


def keys_from_setting(value: str | None, key_file: Path) -> list[bytes]:
    """The Fernet keys, newest first: from `ENCRYPTION_KEY` (comma-separated) or the key file.

    When `value` is empty and the key file does not exist, a key file is created (mode 0600) with a
    new encryption key and a new hash key, and a warning is logged.
    """
    if value and value.strip():
        return _split_keys(value, "ENCRYPTION_KEY")
    if not key_file.exists():
        _create_key_file(key_file)
    elif os.name == "posix" and key_file.stat().st_mode & 0o077:
        log.warning("key file %s can be read by other users; restrict it with: chmod 600", key_file)
    lines = _read_key_file(key_file)
    if not lines:
        raise ValueError(f"key file {key_file} holds no encryption key")
    return _split_keys(lines[0], f"key file {key_file}")


def hash_key_from_setting(value: str | None, key_file: Path) -> bytes | None:
    """The stable hash key: `ENCRYPTION_HASH_KEY`, else line 2 of an existing key file, else None.

    None means "derive it from the newest encryption key" (see the module docstring).
    """
    if value and value.strip():
        return _check_key(value.strip().encode("ascii"), "ENCRYPTION_HASH_KEY")
    if key_file.exists():
        lines = _read_key_file(key_file)
        if len(lines) >= 2:
            return _check_key(lines[1].encode("ascii"), f"hash key in {key_file}")
    return None


def load_cipher(encryption_key: str | None, hash_key: str | None, key_file: Path) -> Cipher:
    """Build the application's cipher from the settings (creating the key file if needed)."""
    keys = keys_from_setting(encryption_key, key_file)
    return Cipher(keys, hash_key_from_setting(hash_key, key_file))


_current: Cipher | None = None


def configure(cipher: Cipher | None) -> None:
    """Make `cipher` the one used by the encrypted column types (None forgets it, for tests)."""
    global _current
    _current = cipher


def current() -> Cipher:
    """The configured cipher; raise RuntimeError if `configure` has not been called."""
    if _current is None:
        raise RuntimeError("no cipher configured: call storage.crypto.configure(...) at start-up")
    return _current


def keyed_hash(value: str) -> str:
    """HMAC-SHA256 of `value` with the configured cipher's hash key (64 hex characters)."""
    return current().keyed_hash(value)


class EncryptedJSON(TypeDecorator[Any]):
    """Any JSON value, stored as a Fernet token of its UTF-8 JSON text. Python None is SQL NULL."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        # orjson: the same compact UTF-8 text as `json.dumps(ensure_ascii=False, separators=(",", ":"))`,
        # at a tenth of its cost (every answer stores the whole conversation state)
        return current().encrypt(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))

    def process_result_value(self, value: Any | None, dialect: Dialect) -> Any | None:
        if value is None:
            return None
        return orjson.loads(current().decrypt(bytes(value)))


class EncryptedText(TypeDecorator[str]):
    """A string, stored as a Fernet token of its UTF-8 bytes. None is SQL NULL."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return current().encrypt(value.encode("utf-8"))

    def process_result_value(self, value: Any | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return current().decrypt(bytes(value)).decode("utf-8")
