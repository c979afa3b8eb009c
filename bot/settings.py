"""Settings from the environment or `.env` (pydantic-settings); the README lists them, `docs/design.md` says why."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Framework = Literal["aiogram", "ptb"]  # the Telegram runtimes
FRAMEWORKS: tuple[str, ...] = get_args(Framework)

TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,}$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = None
    bot_framework: Framework = "aiogram"  # the Telegram runtime: aiogram or python-telegram-bot
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = "sqlite+aiosqlite:///ipsbot.db"
    database_pool_size: int = Field(default=10, ge=1)  # PostgreSQL connections per process
    redis_url: str | None = None
    redis_prefix: str = "ipsbot"  # every key this deployment writes starts with it
    encryption_key: SecretStr | None = None
    encryption_hash_key: SecretStr | None = None  # stable key for the keyed-hash lookup columns
    key_file: Path = Field(default=Path(".ipsbot/encryption.key"))
    programmes_dir: Path | None = None
    instruments_dir: Path | None = None  # a folder of extra instrument YAML files
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8080
    # the web form and Mini App (bot/channels/web): public base address, e.g. https://ips.example.org
    web_url: str | None = None
    web_host: str = "127.0.0.1"
    web_port: int = 8081
    web_rate_per_address: int = 600  # requests a minute from one address (a job centre shares one)
    web_rate_per_session: int = 60  # requests a minute with one resume token or Mini App session
    web_trust_proxy: bool = False  # take the client address from X-Forwarded-For (behind the README's proxy)
    # staff chats: with WEB_URL set, only what and where (health data stays in the staff area); "full" keeps
    # the whole summaries in Telegram (bot/services/staff_detail.py)
    staff_chat_detail: Literal["full", "brief"] | None = None
    smtp_url: SecretStr | None = None  # e-mail to staff without Telegram: smtp://user:password@host:587 (STARTTLS)
    smtp_from: str = "ipsbot@localhost"
    bot_username: str | None = None  # for the poster's Telegram link, t.me/<username>?start=<programme>
    log_level: str = "INFO"
    # Telegram asks for at most about one message a second to one chat; 0 switches the pacing off
    per_chat_interval: float = 1.0

    @field_validator("telegram_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("redis_url", "webhook_url", "programmes_dir", "instruments_dir", "web_url", "bot_username",
                     "staff_chat_detail", "smtp_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    def secrets(self) -> list[str]:
        """Every secret value set (each key of a key list too): what `bot.redact` keeps out of logs."""
        values = [secret.get_secret_value() for secret in (self.bot_token, self.webhook_secret, self.encryption_key,
                                                            self.encryption_hash_key, self.smtp_url)
                  if secret is not None]
        return values + [part.strip() for value in values if "," in value for part in value.split(",")]

    def token_problem(self) -> str | None:
        """Why the token cannot be used, in one line; None when it looks right."""
        if self.bot_token is None or not self.bot_token.get_secret_value():
            return "BOT_TOKEN is not set. Get one from @BotFather and set BOT_TOKEN."
        if not TOKEN_RE.match(self.bot_token.get_secret_value()):
            return "BOT_TOKEN does not look like a Telegram token (digits, a colon, then letters)."
        return None
