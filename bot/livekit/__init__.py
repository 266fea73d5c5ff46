"""LiveKit layer: the worker, the room handling it shares with `simulate`, and the simulated room.

Everything here turns room events and media tracks into calls on the shared per-participant
pipeline (`bot.pipeline`); no analysis happens in this package.

Importing it quietens two messages the livekit SDK logs at WARNING on every run although nothing is
wrong (see `bot.livekit.sdk_noise`).
"""

from bot.livekit.sdk_noise import install_sdk_noise_filter

install_sdk_noise_filter()
