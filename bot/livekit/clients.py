"""Test participants for a real LiveKit server: each one a real `rtc.Room` client publishing a file.

    python -m bot.livekit.clients --room sales-4711 --participant rep-7=call.mp4 \\
        --participant caller-1=phone.ogg --sip caller-1=+4915112345689 --seconds 20 [--rejoin rep-7=8:3]

Reads LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET. Every participant connects with its own
join token (`--sip ID=PHONE`: kind SIP with `sip.phoneNumber`, audio only, like `emotion-bot token
--sip`), publishes the file's camera and microphone tracks at the file's pace (looped, see
`bot.livekit.publisher.FilePublisher`), stays `--seconds` and leaves. `--rejoin ID=AT:AWAY` makes ID
leave after AT seconds and come back with the same identity AWAY seconds later (new tracks) for the
rest of its time. Prints one JSON object (per participant: frames, audio seconds, joins, error);
exit code 0 when every participant published, 1 otherwise, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONNECT_TIMEOUT_S = 20.0


@dataclass
class ClientSpec:
    identity: str
    path: Path
    sip_phone_number: str | None = None
    rejoin_at_s: float | None = None
    away_s: float = 0.0


@dataclass
class ClientResult:
    identity: str
    joins: int = 0
    video_frames: int = 0
    audio_s: float = 0.0
    error: str | None = None
    connect_s: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "joins": self.joins,
            "video_frames": self.video_frames,
            "audio_s": round(self.audio_s, 2),
            "connect_s": [round(s, 3) for s in self.connect_s],
            "error": self.error,
        }


async def _publish_once(
    credentials: Any, room: str, spec: ClientSpec, seconds: float, result: ClientResult, stop: asyncio.Event
) -> None:
    """Connect, publish for `seconds` (or until `stop`), disconnect."""
    from livekit import rtc

    from bot.livekit.publisher import FilePublisher
    from bot.livekit.tokens import mint_join_token

    token = mint_join_token(
        credentials, room=room, identity=spec.identity, sip_phone_number=spec.sip_phone_number
    )
    publisher = FilePublisher(
        spec.path, video=spec.sip_phone_number is None, audio=True, duration_s=max(seconds, 0.1)
    )
    lk_room = rtc.Room()
    started = time.monotonic()
    try:
        await asyncio.wait_for(lk_room.connect(credentials.url, token), CONNECT_TIMEOUT_S)
        result.connect_s.append(time.monotonic() - started)
        result.joins += 1
        for track, source in publisher.tracks(spec.identity):
            await lk_room.local_participant.publish_track(track, rtc.TrackPublishOptions(source=source))
        run = asyncio.ensure_future(publisher.run())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({run, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not run.done():
            run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        if run.done() and not run.cancelled() and run.exception() is not None:
            raise run.exception()  # type: ignore[misc]
    finally:
        result.video_frames += publisher.stats.video_frames
        result.audio_s += publisher.stats.audio_s
        await lk_room.disconnect()
        await publisher.aclose()


async def run_client(
    credentials: Any, room: str, spec: ClientSpec, seconds: float, stop: asyncio.Event
) -> ClientResult:
    result = ClientResult(spec.identity)
    try:
        if spec.rejoin_at_s is None or spec.rejoin_at_s >= seconds:
            await _publish_once(credentials, room, spec, seconds, result, stop)
        else:
            await _publish_once(credentials, room, spec, spec.rejoin_at_s, result, stop)
            if not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), spec.away_s)
                except TimeoutError:
                    pass
            if not stop.is_set():
                rest = seconds - spec.rejoin_at_s - spec.away_s
                await _publish_once(credentials, room, spec, rest, result, stop)
    except Exception as exc:  # one participant's failure is reported; the others go on
        result.error = f"{type(exc).__name__}: {exc}"
    return result


async def run_clients(room: str, specs: list[ClientSpec], seconds: float) -> list[ClientResult]:
    """All participants at once, until `seconds` passed (SIGTERM/SIGINT: everyone leaves now)."""
    from bot.livekit.credentials import LiveKitCredentials

    credentials = LiveKitCredentials.from_env()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return list(await asyncio.gather(*(run_client(credentials, room, spec, seconds, stop) for spec in specs)))


def _pair(text: str, what: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"{what} must look like ID=VALUE, got {text!r}")
    return key, value


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[ClientSpec]]:
    parser = argparse.ArgumentParser(
        prog="python -m bot.livekit.clients", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--room", required=True)
    parser.add_argument("--participant", action="append", required=True, metavar="ID=PATH")
    parser.add_argument("--sip", action="append", default=[], metavar="ID=PHONE")
    parser.add_argument("--rejoin", action="append", default=[], metavar="ID=AT:AWAY")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    try:
        specs = {}
        for text in args.participant:
            identity, path = _pair(text, "--participant")
            specs[identity] = ClientSpec(identity, Path(path))
        for text in args.sip:
            identity, phone = _pair(text, "--sip")
            specs[identity].sip_phone_number = phone
        for text in args.rejoin:
            identity, when = _pair(text, "--rejoin")
            at, _, away = when.partition(":")
            specs[identity].rejoin_at_s, specs[identity].away_s = float(at), float(away or 0)
    except (argparse.ArgumentTypeError, KeyError, ValueError) as exc:
        parser.error(str(exc))
    return args, list(specs.values())


def main(argv: list[str] | None = None) -> int:
    from bot.livekit.credentials import MissingCredentialsError

    args, specs = parse_args(argv)
    try:
        results = asyncio.run(run_clients(args.room, specs, args.seconds))
    except MissingCredentialsError as exc:
        print(f"bot.livekit.clients: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"room": args.room, "participants": [r.as_dict() for r in results]}), flush=True)
    return 0 if all(r.error is None and r.joins > 0 for r in results) else 1


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown, once the report is out and every room has left.

    livekit.rtc disposes its native runtime from an atexit hook; a tokio task that still calls back
    into the finalising interpreter then aborts the process ("panic in a function that cannot
    unwind", SIGABRT) after a run that succeeded: seen once in CI, two publishers exiting at once.
    Nothing is left to release that the kernel does not release, so skip the teardown.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
