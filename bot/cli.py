"""`emotion-bot` command line. Each subcommand lives in its own module under bot/commands/.

A command module exposes `register(subparsers)`, which adds its parser and sets `func` (a callable
taking the parsed namespace and returning an exit code). Modules import their heavy dependencies
inside `func`, so `emotion-bot --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys

COMMAND_MODULES = (
    "demo",
    "analyze",
    "eval",
    "export",
    "bench",
    "db",
    "worker",
    "invite",
    "token",
    "simulate",
    "webhooks",
    "report",
    "purge",
    "serve",
    "twilio",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emotion-bot", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        module_name = f"bot.commands.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue  # command not built yet in this checkout
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    _redact_logs()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


def _redact_logs() -> None:
    """Phone numbers and e-mails never reach a log line, under the configured phone-number policy."""
    from bot.config import ConfigError, load_config
    from bot.policy.pii import install_log_redaction

    try:
        full = load_config().store_phone_numbers
    except ConfigError:
        full = False  # the command itself reports the bad setting
    install_log_redaction("full" if full else "masked")


if __name__ == "__main__":
    sys.exit(main())
