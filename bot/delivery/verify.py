"""Verify an emotion-bot webhook (Standard Webhooks). Standalone: Python stdlib only.

Receivers may copy this file as is. Usage::

    from verify import verify, WebhookVerificationError

    try:
        verify(request_body_bytes, request.headers, ["whsec_...current", "whsec_...previous"])
    except WebhookVerificationError:
        return 400
    # then de-duplicate on request.headers["webhook-id"]: delivery is at-least-once.

Signed content is ``{webhook-id}.{webhook-timestamp}.{raw body}``, HMAC-SHA256 with the base64-decoded
part of the ``whsec_`` secret; ``webhook-signature`` holds one or more space-separated ``v1,<base64>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 5 * 60  # the Standard Webhooks replay window


class WebhookVerificationError(Exception):
    """Missing headers, a timestamp outside the tolerance, or no signature matching any secret."""


def decode_secret(secret: str) -> bytes:
    """`whsec_<base64>` -> HMAC key bytes. Raises ValueError on a malformed or empty secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook secret must start with 'whsec_'")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        # Padding is optional in the wild: restore it before strict decoding.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("webhook secret is not valid base64 after 'whsec_'") from exc
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def compute_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """base64(HMAC-SHA256(key, b"{msg_id}.{timestamp}." + body)), without the `v1,` prefix."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: str | Sequence[str],
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Raise WebhookVerificationError unless `body` was signed by one of `secrets` within the tolerance.

    `headers` is any mapping (header names are matched case-insensitively). Several secrets are
    accepted so a receiver keeps working while the sender rotates its secret.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    timestamp_header = lowered.get("webhook-timestamp")
    signature_header = lowered.get("webhook-signature")
    if not (msg_id and timestamp_header and signature_header):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(timestamp_header)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp outside the tolerance window")

    offered = [
        candidate.partition(",")[2].encode()
        for candidate in signature_header.split(" ")
        if candidate.startswith("v1,")
    ]
    for secret in [secrets] if isinstance(secrets, str) else secrets:
        expected = compute_signature(decode_secret(secret), msg_id, timestamp, body).encode()
        # Each comparison is constant-time; which of the offered signatures matched is not secret.
        if any(hmac.compare_digest(expected, signature) for signature in offered):
            return
    raise WebhookVerificationError("no matching signature")
