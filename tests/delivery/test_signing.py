"""Signing agrees with the independent reference implementation (`standardwebhooks`) and our verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks import WebhookVerificationError as ReferenceError_

from bot.delivery.signing import active_secrets, build_headers, generate_secret, sign
from bot.delivery.verify import WebhookVerificationError, decode_secret, verify

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the example secret in the Standard Webhooks spec
OTHER = "whsec_" + base64.b64encode(b"another key of ours").decode()
BODY = b'{"type":"call.summary","data":{"call_id":"c1"}}'


def test_sign_matches_hand_computed_hmac() -> None:
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    expected = base64.b64encode(hmac.new(key, b"msg_1.1700000000." + BODY, hashlib.sha256).digest()).decode()
    assert sign(SECRET, "msg_1", 1700000000, BODY) == "v1," + expected


def test_sign_matches_reference_signer() -> None:
    ts = datetime.fromtimestamp(1700000000, tz=UTC)
    assert sign(SECRET, "msg_1", 1700000000, BODY) == Webhook(SECRET).sign("msg_1", ts, BODY.decode())


def test_reference_verifier_accepts_our_headers_and_rejects_tampering() -> None:
    headers = build_headers([SECRET], "msg_abc", BODY)
    assert Webhook(SECRET).verify(BODY, headers) == {"type": "call.summary", "data": {"call_id": "c1"}}
    with pytest.raises(ReferenceError_):
        Webhook(SECRET).verify(BODY.replace(b"c1", b"c2"), headers)
    with pytest.raises(ReferenceError_):
        Webhook(OTHER).verify(BODY, headers)


def test_rotation_signs_with_every_active_secret() -> None:
    headers = build_headers([OTHER, SECRET], "msg_rot", BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(SECRET).verify(BODY, headers)  # a receiver still on the old secret
    Webhook(OTHER).verify(BODY, headers)  # and one already on the new secret
    verify(BODY, headers, SECRET)
    verify(BODY, headers, [OTHER])


def test_our_verifier_checks_signature_secret_and_time() -> None:
    now = int(time.time())
    headers = build_headers([SECRET], "msg_v", BODY, timestamp=now)
    verify(BODY, headers, [OTHER, SECRET])  # any of several receiver secrets
    verify(BODY, {k.upper(): v for k, v in headers.items()}, SECRET)  # header names case-insensitive
    with pytest.raises(WebhookVerificationError, match="no matching"):
        verify(BODY + b" ", headers, SECRET)
    with pytest.raises(WebhookVerificationError, match="no matching"):
        verify(BODY, headers, OTHER)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(BODY, headers, SECRET, now=now + 301)
    verify(BODY, headers, SECRET, now=now + 299)
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify(BODY, {"webhook-id": "x"}, SECRET)


def test_our_verifier_accepts_reference_signed_messages() -> None:
    now = datetime.now(tz=UTC)
    signature = Webhook(SECRET).sign("msg_ref", now, BODY.decode())
    headers = {
        "webhook-id": "msg_ref",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    verify(BODY, headers, SECRET)


def test_active_secrets_from_env_current_first_and_validated() -> None:
    env = {"EMOTION_BOT_WEBHOOK_SECRET": OTHER, "EMOTION_BOT_WEBHOOK_SECRET_PREVIOUS": f"{SECRET}, {OTHER}"}
    assert active_secrets(env) == [OTHER, SECRET]
    assert active_secrets({}) == []
    with pytest.raises(ValueError, match="whsec_"):
        active_secrets({"EMOTION_BOT_WEBHOOK_SECRET": "not-a-secret"})
    with pytest.raises(ValueError, match="base64"):
        decode_secret("whsec_!!!")


def test_generated_secret_round_trips() -> None:
    secret = generate_secret()
    assert len(decode_secret(secret)) == 32
    Webhook(secret).verify(BODY, build_headers([secret], "msg_g", BODY))
