"""Twilio Media Streams as a source of the `serve` gateway: phone calls forked to a WebSocket.

The adapter only translates Twilio's messages and mu-law audio into the shared call lifecycle
(`bot/calls/`); policy, summary, storage and delivery are the shared layer's.
"""
