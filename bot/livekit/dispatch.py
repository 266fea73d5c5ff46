"""Inviting the bot into a room: an explicit agent dispatch carrying validated metadata."""

from __future__ import annotations

from livekit import api

from bot.livekit.credentials import LiveKitCredentials
from bot.livekit.metadata import CallMetadata

AGENT_NAME = "emotion-bot"


async def create_dispatch(
    credentials: LiveKitCredentials, *, room: str, metadata: CallMetadata
) -> api.AgentDispatch:
    """Ask the server to send a job for `room` to a worker registered as `AGENT_NAME`."""
    payload = metadata.to_json()
    async with api.LiveKitAPI(credentials.url, credentials.api_key, credentials.api_secret) as lkapi:
        return await lkapi.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=AGENT_NAME, room=room, metadata=payload)
        )
