"""Masking of personal numbers before they reach the database, logs or webhooks."""

from __future__ import annotations

import re

MASK = "*"
_KEEP_LEADING = 3  # about a country code: enough to tell callers' regions apart
_KEEP_TRAILING = 2  # enough for a human to tell two callers apart, too few to call anyone back


def mask_phone_number(number: str | None) -> str | None:
    """ "+49 151 1234-5678" -> "+491********78"; None or digit-less input -> None.

    Formatting characters are dropped so the same number always masks to the same string. Numbers
    too short to keep both ends keep only the last digit.
    """
    if not number:
        return None
    digits = re.sub(r"\D", "", number)
    if not digits:
        return None
    prefix = "+" if number.strip().startswith("+") else ""
    if len(digits) <= _KEEP_LEADING + _KEEP_TRAILING + 2:
        return prefix + MASK * (len(digits) - 1) + digits[-1]
    hidden = len(digits) - _KEEP_LEADING - _KEEP_TRAILING
    return prefix + digits[:_KEEP_LEADING] + MASK * hidden + digits[-_KEEP_TRAILING:]
