"""End-of-call summary: computed from stored observations, fused points, participants and call metadata.

`build_summary` returns the JSON-ready dict (shape: bot/schemas/summary.schema.json, version "1.0";
example: docs/summary.example.json); `finalize_call` also closes the call and stores the summary in one
transaction; `format_summary_text` renders it for the terminal.
"""

from bot.summary.analysis import SummaryOptions
from bot.summary.build import SUMMARY_VERSION, build_summary, finalize_call
from bot.summary.text import format_summary_text

__all__ = ["SUMMARY_VERSION", "SummaryOptions", "build_summary", "finalize_call", "format_summary_text"]
