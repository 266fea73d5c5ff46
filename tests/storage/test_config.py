"""bot.config: defaults, and a clear ConfigError naming the variable for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from bot.delivery.signing import generate_secret


def test_defaults(tmp_path):
    config = load_config({"XDG_DATA_HOME": str(tmp_path)})
    assert config.db_url == str(tmp_path / "emotion-bot" / "emotion_bot.db")
    assert (config.webhook_url, config.webhook_secret, config.store_phone_numbers) == (None, None, False)
    assert Path(load_config({"EMOTION_BOT_DATA_DIR": "/srv/bot"}).db_url) == Path("/srv/bot/emotion_bot.db")


def test_valid_values():
    secret = generate_secret()
    config = load_config(
        {
            "EMOTION_BOT_DB": "postgresql://bot@db.internal/emotions",
            "EMOTION_BOT_WEBHOOK_URL": "https://crm.example.com/hook",
            "EMOTION_BOT_WEBHOOK_SECRET": secret,
            "EMOTION_BOT_STORE_PHONE_NUMBERS": "Yes",
        }
    )
    assert config.webhook_secret == secret and config.store_phone_numbers is True


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("EMOTION_BOT_DB", "mysql://u@h/db", "unsupported database"),
        ("EMOTION_BOT_WEBHOOK_URL", "ftp://crm.example.com", "http"),
        ("EMOTION_BOT_WEBHOOK_URL", "https://", "host"),
        ("EMOTION_BOT_WEBHOOK_SECRET", "hunter2", "whsec_"),
        ("EMOTION_BOT_STORE_PHONE_NUMBERS", "maybe", "true/false"),
    ],
)
def test_bad_values_raise_config_error(name, value, message):
    with pytest.raises(ConfigError, match=name) as error:
        load_config({name: value})
    assert message in str(error.value)
    assert "hunter2" not in str(error.value)  # a rejected secret is never echoed


def test_database_from_config_uses_the_environment(tmp_path, monkeypatch):
    from storage.db import Database

    monkeypatch.setenv("EMOTION_BOT_DB", str(tmp_path / "env.db"))
    assert Database.from_config().url.database == str(tmp_path / "env.db")
    assert Database.from_config(str(tmp_path / "arg.db")).url.database == str(tmp_path / "arg.db")
