"""LiveKit layer: the worker, the room handling it shares with `simulate`, and the simulated room.

Everything here turns room events and media tracks into calls on the shared per-participant
pipeline (`bot.pipeline`); no analysis happens in this package.
"""
