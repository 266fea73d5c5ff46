"""The demo call as a simulated LiveKit room: one camera participant and one phone caller, made from
the media the project ships (bot/assets/demo), through the same room handling as the worker."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bot.livekit.room import RoomOptions, conversion_rate_limit
from bot.livekit.simulate import SimulatedParticipant, SimulationResult, simulate_call
from bot.pipeline.config import PipelineConfig
from bot.pipeline.demo_media import write_recording
from bot.pipeline.models import Models
from storage.db import Database


async def simulate_demo_call(
    models: Models,
    database: Database,
    *,
    seconds: float,
    metadata: dict[str, Any] | None = None,
    webhook_url: str | None = None,
) -> SimulationResult:
    """Write the two demo recordings (the portrait with speech; speech only) and run them as a call."""
    config = PipelineConfig()
    options = RoomOptions(
        empty_grace_s=0.0, no_show_timeout_s=30.0, video_max_fps=conversion_rate_limit(config)
    )
    with tempfile.TemporaryDirectory(prefix="emotion-demo-") as folder:
        video = write_recording(Path(folder) / "camera.mp4", duration_s=seconds, width=640, height=360)
        phone = write_recording(Path(folder) / "phone.ogg", duration_s=seconds, video=False)
        participants = [
            SimulatedParticipant("eileen", video, name="Eileen (demo)"),
            SimulatedParticipant("caller", phone, sip=True, name="Phone caller (demo)"),
        ]
        return await simulate_call(
            participants,
            models=models,
            database=database,
            duration_s=seconds,
            config=config,
            options=options,
            metadata=metadata or {"ticket_id": "DEMO-1"},
            webhook_url=webhook_url,
        )
