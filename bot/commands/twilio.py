"""`emotion-bot twilio twiml --url wss://HOST/twilio/media [--param k=v ...]`: set up a Twilio number.

Prints the TwiML that forks a call's audio (both tracks) to `emotion-bot serve`, for a TwiML Bin or
a number's voice webhook. `caller_number` is passed as `{{From}}` (a TwiML Bin template: Twilio fills
in the caller's number; the bot stores it masked) unless --no-caller-number.
"""

from __future__ import annotations

import argparse
import sys

EXIT_USAGE = 2


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("twilio", help="Twilio phone calls: TwiML to stream a number's calls to `serve`")
    commands = parser.add_subparsers(dest="twilio_command", required=True)
    twiml = commands.add_parser(
        "twiml",
        help="print the <Start><Stream> TwiML for a number's voice configuration",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    twiml.add_argument(
        "--url", required=True, help="the stream URL: wss://HOST/twilio/media (no query string)"
    )
    twiml.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a <Parameter>: deal_id, ticket_id, host_identity, webhook_url, crm (a JSON object). Repeat.",
    )
    twiml.add_argument(
        "--track", default="both_tracks", help="inbound_track, outbound_track or both_tracks (default)"
    )
    twiml.add_argument("--name", help="a stream name (to stop it later by name)")
    twiml.add_argument("--status-callback", metavar="URL", help="Twilio posts stream events here")
    twiml.add_argument("--dial", metavar="NUMBER", help="then connect the caller to this number (<Dial>)")
    twiml.add_argument(
        "--no-caller-number", action="store_true", help="do not pass the caller's number ({{From}})"
    )
    twiml.set_defaults(func=_twiml)


def _twiml(args: argparse.Namespace) -> int:

    from bot.livekit.metadata import InvalidMetadataError
    from bot.twilio.call_params import CALLER_NUMBER, parse_parameters
    from bot.twilio.twiml import stream_twiml

    params: dict[str, str] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            return _fail(f"--param {item!r}: expected KEY=VALUE")
        params[key.strip()] = value
    # Refuse here what the bot would flag as invalid metadata on every call.
    checked = parse_parameters(params)
    if checked.metadata is None:
        return _fail(f"--param: {checked.record['error']}")
    if not args.no_caller_number:
        params.setdefault(CALLER_NUMBER, "{{From}}")
    try:
        xml = stream_twiml(
            args.url,
            params,
            track=args.track,
            name=args.name,
            status_callback=args.status_callback,
            dial=args.dial,
        )
    except (ValueError, InvalidMetadataError) as exc:
        return _fail(str(exc))
    print(xml)
    return 0


def _fail(message: str) -> int:
    print(f"emotion-bot twilio twiml: {message}", file=sys.stderr)
    return EXIT_USAGE
