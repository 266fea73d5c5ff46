"""Standard Webhooks signing for outgoing webhooks.

Secrets have the form `whsec_<base64 key>`. The sender signs every message with each *active*
secret: EMOTION_BOT_WEBHOOK_SECRET (current) and, during a rotation, the secrets listed in
EMOTION_BOT_WEBHOOK_SECRET_PREVIOUS (comma- or space-separated). The signatures go space-separated
into `webhook-signature`, so a receiver that still holds an old secret and one that already holds the
new one both verify the same request. Rotation: put the new secret in EMOTION_BOT_WEBHOOK_SECRET and
the old one in ..._PREVIOUS, update the receivers, then clear ..._PREVIOUS.
"""

from __future__ import annotations

import base64
import os
import secrets as _random
import time
from collections.abc import Mapping, Sequence

from bot.delivery.verify import SECRET_PREFIX, compute_signature, decode_secret

SECRET_ENV = "EMOTION_BOT_WEBHOOK_SECRET"
PREVIOUS_SECRETS_ENV = "EMOTION_BOT_WEBHOOK_SECRET_PREVIOUS"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One Standard Webhooks signature: `v1,<base64 HMAC-SHA256>` of `{msg_id}.{timestamp}.{body}`."""
    return "v1," + compute_signature(decode_secret(secret), msg_id, int(timestamp), body)


def build_headers(
    secrets: Sequence[str], msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers (plus content-type) for one delivery attempt.

    `timestamp` defaults to now: it is the time of this attempt, while `msg_id` stays the same across
    retries so receivers can de-duplicate.
    """
    if not secrets:
        raise ValueError("no webhook secret configured")
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": " ".join(sign(secret, msg_id, ts, body) for secret in secrets),
    }


def active_secrets(env: Mapping[str, str] | None = None) -> list[str]:
    """Current secret first, then any previous ones still honoured during a rotation.

    Every secret is validated here so a typo fails at start-up, not at the first delivery.
    """
    source = os.environ if env is None else env
    current = source.get(SECRET_ENV, "").strip()
    previous = source.get(PREVIOUS_SECRETS_ENV, "").replace(",", " ").split()
    found = ([current] if current else []) + [s for s in previous if s != current]
    for secret in found:
        decode_secret(secret)
    return found


def generate_secret(num_bytes: int = 32) -> str:
    """A fresh random `whsec_` secret (32 key bytes by default)."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(num_bytes)).decode("ascii")
