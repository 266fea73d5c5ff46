"""`emotion-bot token --room ROOM --identity ID [--sip PHONE]`: a join token for a test participant."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("token", help="mint a LiveKit join token for a test participant")
    parser.add_argument("--room", required=True)
    parser.add_argument("--identity", required=True, help="an opaque id, not a person's name")
    parser.add_argument("--name", help="display name")
    parser.add_argument(
        "--sip", metavar="PHONE", help="join as a phone caller (kind sip, attribute sip.phoneNumber=PHONE)"
    )
    parser.add_argument("--ttl-hours", type=float, default=6.0)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from bot.livekit.credentials import LiveKitCredentials, MissingCredentialsError
    from bot.livekit.tokens import mint_join_token

    try:
        credentials = LiveKitCredentials.from_env(need_url=False)
        token = mint_join_token(
            credentials,
            room=args.room,
            identity=args.identity,
            name=args.name,
            sip_phone_number=args.sip,
            ttl=timedelta(hours=args.ttl_hours),
        )
    except (MissingCredentialsError, ValueError) as exc:
        print(f"emotion-bot token: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0
