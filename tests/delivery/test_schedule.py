from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bot.delivery.config import DeliveryConfig
from bot.delivery.schedule import (
    DEFAULT_SCHEDULE_S,
    MAX_RETRY_AFTER_S,
    Outcome,
    classify,
    next_delay,
    parse_retry_after,
    parse_schedule,
)

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def test_default_schedule_is_the_svix_one() -> None:
    assert parse_schedule("0,5s,5m,30m,2h,5h,10h,10h") == DEFAULT_SCHEDULE_S
    assert parse_schedule("0, 250ms, 1.5") == (0, 0.25, 1.5)
    with pytest.raises(ValueError, match="duration"):
        parse_schedule("0,5 minutes")
    with pytest.raises(ValueError, match="at least one"):
        parse_schedule(" , ")


@pytest.mark.parametrize(
    "code, outcome",
    [
        (200, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (400, Outcome.PERMANENT_FAILURE),
        (401, Outcome.PERMANENT_FAILURE),
        (404, Outcome.PERMANENT_FAILURE),
        (410, Outcome.PERMANENT_FAILURE),
        (301, Outcome.PERMANENT_FAILURE),
        (408, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
    ],
)
def test_classify(code: int, outcome: Outcome) -> None:
    assert classify(code) is outcome


def test_retry_after_seconds_date_and_garbage() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after(format_datetime(NOW + timedelta(minutes=3), usegmt=True), NOW) == 180
    assert parse_retry_after(format_datetime(NOW - timedelta(minutes=3), usegmt=True), NOW) == 0
    assert parse_retry_after("999999999", NOW) == MAX_RETRY_AFTER_S
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_next_delay_follows_schedule_and_retry_after_only_postpones() -> None:
    schedule = (0, 5, 300)
    assert next_delay(schedule, 1, None) == 5
    assert next_delay(schedule, 2, None) == 300
    assert next_delay(schedule, 3, None) is None  # spent: the message fails
    assert next_delay(schedule, 1, 60) == 60
    assert next_delay(schedule, 2, 1) == 300


def test_delivery_config_from_env() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    config = DeliveryConfig.from_env(
        {
            "EMOTION_BOT_WEBHOOK_SECRET": secret,
            "EMOTION_BOT_WEBHOOK_URL": "https://crm.example/hook",
            "EMOTION_BOT_WEBHOOK_RETRY_SCHEDULE": "0,1s,2s",
            "EMOTION_BOT_WEBHOOK_TIMEOUT": "2s",
            "EMOTION_BOT_WEBHOOK_LEASE": "5s",
        }
    )
    assert config.secrets == (secret,) and config.default_url == "https://crm.example/hook"
    assert config.schedule == (0, 1, 2) and config.timeout_s == 2 and config.lease_s == 5
    with pytest.raises(ValueError, match="no webhook secret"):
        DeliveryConfig.from_env({})
    with pytest.raises(ValueError, match="lease"):
        DeliveryConfig(secrets=(secret,), timeout_s=10, lease_s=5)
