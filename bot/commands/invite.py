"""`emotion-bot invite --room ROOM [--metadata JSON]`: dispatch the bot into a LiveKit room."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("invite", help="send the bot into a LiveKit room (explicit agent dispatch)")
    parser.add_argument("--room", required=True, help="room name (must not contain personal data)")
    parser.add_argument(
        "--metadata",
        default="",
        help='JSON echoed in the summary, e.g. \'{"deal_id":"D-42","host_identity":"agent-7",'
        '"webhook_url":"https://crm.example/hooks/emotion"}\'; free-form CRM data goes under "crm"',
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from bot.livekit.credentials import LiveKitCredentials, MissingCredentialsError
    from bot.livekit.dispatch import create_dispatch
    from bot.livekit.metadata import InvalidMetadataError, parse_metadata

    try:
        metadata = parse_metadata(args.metadata)
        credentials = LiveKitCredentials.from_env()
    except (InvalidMetadataError, MissingCredentialsError) as exc:
        print(f"emotion-bot invite: {exc}", file=sys.stderr)
        return 2
    try:
        dispatch = asyncio.run(create_dispatch(credentials, room=args.room, metadata=metadata))
    except Exception as exc:  # network or server refusal: say which, no traceback for a CLI user
        print(f"emotion-bot invite: dispatch failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"dispatched {dispatch.agent_name} to room {dispatch.room} (dispatch {dispatch.id})")
    return 0
