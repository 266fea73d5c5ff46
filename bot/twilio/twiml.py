"""The TwiML that forks a call's audio to the bot: `<Start><Stream>` (unidirectional, the call goes on).

`<Connect><Stream>` would hold the call in the stream until the socket closes and is only for a bot
that speaks; a passive analyser wants `<Start>`. Parameters travel as `<Parameter>` because Twilio
refuses a stream URL with a query string (error 31922).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from twilio.twiml.voice_response import Dial, VoiceResponse

TRACKS = ("inbound_track", "outbound_track", "both_tracks")


def check_stream_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "wss" or not parts.hostname:
        raise ValueError(f"stream URL {url!r}: Twilio only connects to wss://HOST/PATH (error 31922)")
    if parts.query or parts.fragment:
        raise ValueError(f"stream URL {url!r}: no query string allowed; pass values with --param k=v")


def stream_twiml(
    url: str,
    params: Mapping[str, str],
    *,
    track: str = "both_tracks",
    name: str | None = None,
    status_callback: str | None = None,
    dial: str | None = None,
) -> str:
    """The <Response> document (XML declaration included)."""
    check_stream_url(url)
    if track not in TRACKS:
        raise ValueError(f"track {track!r}: expected one of {', '.join(TRACKS)}")
    response = VoiceResponse()
    extra = {k: v for k, v in (("name", name), ("status_callback", status_callback)) if v}
    stream = response.start().stream(url=url, track=track, **extra)
    for key, value in params.items():
        stream.parameter(name=key, value=value)
    if dial:
        response.append(Dial(dial))
    return str(response.to_xml(xml_declaration=True))
