"""LiveKit server credentials from the environment, with one clear error when they are missing."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


class MissingCredentialsError(RuntimeError):
    """LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET not set."""


@dataclass(frozen=True, slots=True)
class LiveKitCredentials:
    url: str
    api_key: str
    api_secret: str = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, need_url: bool = True) -> LiveKitCredentials:
        source = os.environ if env is None else env
        names = ["LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"] + (["LIVEKIT_URL"] if need_url else [])
        missing = [name for name in names if not source.get(name, "").strip()]
        if missing:
            raise MissingCredentialsError(
                f"set {', '.join(missing)} (for a local `livekit-server --dev`: "
                "LIVEKIT_URL=ws://127.0.0.1:7880 LIVEKIT_API_KEY=devkey LIVEKIT_API_SECRET=secret)"
            )
        return cls(
            url=source.get("LIVEKIT_URL", "").strip(),
            api_key=source["LIVEKIT_API_KEY"].strip(),
            api_secret=source["LIVEKIT_API_SECRET"].strip(),
        )
