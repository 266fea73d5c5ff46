"""Run-time settings from environment variables, validated once, with defaults.

- EMOTION_BOT_DB: SQLite file path or SQLAlchemy URL (`postgresql://user@host/db`);
  default `<data dir>/emotion_bot.db`.
- EMOTION_BOT_DATA_DIR: the data dir; default `$XDG_DATA_HOME/emotion-bot`, else
  `~/.local/share/emotion-bot`.
- EMOTION_BOT_WEBHOOK_URL: where call summaries are posted (http or https); default unset.
- EMOTION_BOT_WEBHOOK_SECRET: Standard Webhooks signing secret (`whsec_<base64 key>`); default unset.
- EMOTION_BOT_STORE_PHONE_NUMBERS: store SIP callers' full numbers instead of masked ones; default false.

The default database sits in a per-user data dir rather than the current directory, so the worker,
`export` and `report` find the same calls wherever they are started from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot.delivery.verify import decode_secret
from storage.db import normalise_url

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class ConfigError(ValueError):
    """An environment variable holds a value we cannot use; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Config:
    db_url: str
    webhook_url: str | None
    webhook_secret: str | None
    store_phone_numbers: bool


def default_data_dir(env: Mapping[str, str]) -> Path:
    if env.get("EMOTION_BOT_DATA_DIR"):
        return Path(env["EMOTION_BOT_DATA_DIR"]).expanduser()
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "emotion-bot"


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the settings (from os.environ unless `env` is given)."""
    env = os.environ if env is None else env
    return Config(
        db_url=_db_url(env),
        webhook_url=_webhook_url(env),
        webhook_secret=_webhook_secret(env),
        store_phone_numbers=_flag(env, "EMOTION_BOT_STORE_PHONE_NUMBERS", default=False),
    )


def _db_url(env: Mapping[str, str]) -> str:
    value = env.get("EMOTION_BOT_DB", "").strip()
    if not value:
        return str(default_data_dir(env) / "emotion_bot.db")
    try:
        normalise_url(value)
    except ValueError as exc:
        raise ConfigError(f"EMOTION_BOT_DB={value!r}: {exc}") from exc
    return value


def _webhook_url(env: Mapping[str, str]) -> str | None:
    value = env.get("EMOTION_BOT_WEBHOOK_URL", "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"EMOTION_BOT_WEBHOOK_URL={value!r}: expected an http(s):// URL with a host")
    return value


def _webhook_secret(env: Mapping[str, str]) -> str | None:
    value = env.get("EMOTION_BOT_WEBHOOK_SECRET", "").strip()
    if not value:
        return None
    try:
        decode_secret(value)
    except ValueError as exc:  # the message never echoes the secret itself
        raise ConfigError(f"EMOTION_BOT_WEBHOOK_SECRET: {exc}") from exc
    return value


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    if name not in env:
        return default
    value = env[name].strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={env[name]!r}: expected one of true/false, 1/0, yes/no, on/off")
