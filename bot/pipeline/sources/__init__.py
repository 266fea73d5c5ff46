"""Media sources that feed the per-participant analyser (recorded files here; LiveKit in bot/livekit)."""
