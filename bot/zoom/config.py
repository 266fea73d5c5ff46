"""The Zoom source's settings, from the environment, checked before `serve` loads anything.

ZOOM_CLIENT_ID / ZOOM_CLIENT_SECRET: the Marketplace app's OAuth credentials (they sign the RTMS
handshakes). ZOOM_SECRET_TOKEN: the app's webhook Secret Token (a different secret: it signs Zoom's
webhooks and answers the URL validation).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.config import ConfigError
from bot.zoom.protocol import MAX_JPG_FPS, VideoMode

REQUIRED = ("ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET", "ZOOM_SECRET_TOKEN")


@dataclass(frozen=True, slots=True)
class ZoomCredentials:
    client_id: str
    client_secret: str = field(repr=False)
    secret_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ZoomOptions:
    video_mode: VideoMode = "speaker"
    rotate_s: float = 10.0  # individual mode: seconds on one camera before the next
    video_fps: int = 2  # asked of Zoom; the pipeline samples 2 fps
    reconnect_window_s: float = 30.0  # both sockets away this long: the call ends as partial
    receive_timeout_s: float = 90.0  # nothing at all from a socket (Zoom sends keep-alives): reconnect
    claim_stale_s: float = 60.0  # a claim not renewed for this long belongs to a dead process
    heartbeat_s: float = 5.0
    signature_tolerance_s: float = 300.0  # webhook timestamps older or newer than this are refused

    def __post_init__(self) -> None:
        if not 1 <= self.video_fps <= MAX_JPG_FPS:
            raise ConfigError(f"Zoom video fps must be 1..{MAX_JPG_FPS} (JPG), got {self.video_fps}")
        if self.rotate_s <= 0:
            raise ConfigError("--zoom-rotate-s must be positive")


def credentials_from_env(env: Mapping[str, str] | None = None) -> ZoomCredentials:
    env = os.environ if env is None else env
    missing = [name for name in REQUIRED if not env.get(name, "").strip()]
    if missing:
        raise ConfigError(
            f"{', '.join(missing)} not set: the Zoom app's client id and secret (Marketplace app > App "
            "Credentials) and its webhook Secret Token (Features > Access) are needed"
        )
    return ZoomCredentials(*(env[name].strip() for name in REQUIRED))
