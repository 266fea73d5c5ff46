"""Join tokens for test participants (`emotion-bot token`), including phone-kind ones.

A token of kind "sip" with a `sip.phoneNumber` attribute makes the bot see a PARTICIPANT_KIND_SIP
participant, which exercises the phone path without a SIP trunk.
"""

from __future__ import annotations

from datetime import timedelta

from livekit import api

from bot.livekit.credentials import LiveKitCredentials

DEFAULT_TTL = timedelta(hours=6)


def mint_join_token(
    credentials: LiveKitCredentials,
    *,
    room: str,
    identity: str,
    name: str | None = None,
    sip_phone_number: str | None = None,
    ttl: timedelta = DEFAULT_TTL,
) -> str:
    """A token that joins `room` as `identity`, publishing and subscribing like a meeting client."""
    if not room.strip() or not identity.strip():
        raise ValueError("room and identity must be non-empty")
    token = (
        api.AccessToken(credentials.api_key, credentials.api_secret)
        .with_identity(identity)
        .with_ttl(ttl)
        .with_grants(
            api.VideoGrants(
                room_join=True, room=room, can_publish=True, can_subscribe=True, can_publish_data=True
            )
        )
    )
    if name:
        token = token.with_name(name)
    if sip_phone_number:
        token = token.with_kind("sip").with_attributes(
            {"sip.phoneNumber": sip_phone_number, "sip.callStatus": "active"}
        )
    return token.to_jwt()
