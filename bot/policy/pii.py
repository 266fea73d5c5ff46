"""Phone numbers and e-mail addresses, wherever they hide, masked before anything is written.

Platforms put personal data in places that look like ids: LiveKit names a SIP caller
`sip_+4915112345689` and an individual dispatch rule names the room after the number; a Zoom user
name may be an e-mail; a Twilio stream carries the caller's number as a parameter. A `Redactor`
(one per call) rewrites every such string the same way: the same number always gets the same masked
form within the call, and two different numbers never share one (a suffix tells them apart).

What counts as a phone number in free text (ids, names, room names, log lines): a `+` followed by
7-15 digits (single spaces, dashes, dots or parentheses allowed between them), or a bare run of at
least 10 digits that is not part of a longer alphanumeric token (so hex ids and short numeric ids
such as a Zoom user id or a CRM deal id stay readable). E-mail addresses are always masked: nothing
in the product needs one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

PhoneNumberPolicy = Literal["masked", "full", "none"]

# Metadata fields that are the CRM's own ids or our delivery address: never rewritten (a masked
# deal id could no longer be joined, a masked URL could not be delivered to).
# "zoom" holds the platform's meeting ids (an 11-digit meeting id looks like a phone number), no names.
UNREDACTED_METADATA_FIELDS = frozenset({"deal_id", "ticket_id", "webhook_url", "zoom"})

_PHONE = re.compile(
    r"(?<![A-Za-z0-9+])"
    r"(?:\+\d(?:[ .\-()]{0,2}\d){6,14}|\d{10,15})"
    r"(?![A-Za-z0-9])"
)
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def mask_phone_number(number: str) -> str:
    """Keep the country/area prefix and the last two digits: "+491512345689" -> "+4915******89".

    Enough for a supervisor to tell two callers apart, not enough to call them back. Numbers too
    short to keep a prefix keep only their last two digits.
    """
    digits = [i for i, ch in enumerate(number) if ch.isdigit()]
    if len(digits) <= 2:
        return "*" * len(number)
    keep_head = 4 if len(digits) >= 10 else 0
    shown = set(digits[:keep_head]) | set(digits[-2:])
    return "".join(ch if (i in shown or not ch.isdigit()) else "*" for i, ch in enumerate(number))


def hide_phone_number(number: str) -> str:
    """Every digit hidden (the "none" policy: not even a prefix is kept)."""
    return "".join("*" if ch.isdigit() else ch for ch in number)


def mask_email(address: str) -> str:
    """ "ana.lopez@example.com" -> "a********@*******.com": the first letter and the top-level domain."""
    local, _, domain = address.partition("@")
    tld = domain.rsplit(".", 1)[-1]
    return f"{local[:1]}{'*' * (len(local) - 1)}@{'*' * (len(domain) - len(tld) - 1)}.{tld}"


def apply_phone_policy(number: str | None, policy: PhoneNumberPolicy) -> str | None:
    """A phone number field as it may be stored under `policy` (None: not stored at all)."""
    if not number or policy == "none":
        return None
    return number if policy == "full" else mask_phone_number(number)


def contains_personal_data(text: str) -> bool:
    """True if `text` holds something this module would mask (for checks and tests)."""
    return bool(_PHONE.search(text) or _EMAIL.search(text))


class Redactor:
    """Masks phone numbers (under `policy`) and e-mails in strings and JSON values, consistently.

    One per call: `text()` maps each distinct number or address to one masked form, and a masked
    form already taken by another number gets a suffix ("#2"), so identities never collide.
    """

    def __init__(self, policy: PhoneNumberPolicy = "masked") -> None:
        self.policy = policy
        self._suffixes: dict[str, str] = {}  # number (digits) or address -> its collision suffix
        self._owners: dict[str, str] = {}  # masked form -> the number or address it stands for

    def text(self, value: str) -> str:
        """`value` with every phone number and e-mail address replaced by its masked form."""
        # E-mails first: a SIP URI ("sip:+4915...@host") is then hidden whole, number included.
        value = _EMAIL.sub(lambda m: self._replace(m.group(0), m.group(0).lower(), mask_email), value)
        if self.policy != "full":
            value = _PHONE.sub(
                lambda m: self._replace(m.group(0), _digits(m.group(0)), self._mask_phone), value
            )
        return value

    def optional(self, value: str | None) -> str | None:
        return None if value is None else self.text(value)

    def phone_number(self, number: str | None) -> str | None:
        """A field that holds a phone number and nothing else: stored under the policy ("none": not
        stored). The masked form is the one `text()` gives inside identities and names."""
        if not number or self.policy == "none":
            return None
        if self.policy == "full":
            return number
        return self._replace(number, _digits(number), self._mask_phone)

    def value(self, value: Any) -> Any:
        """A JSON-like value (dict, list, str, number) with every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {str(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    def metadata(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Call metadata as stored and echoed: everything redacted but the CRM ids and the URL."""
        return {
            key: value if key in UNREDACTED_METADATA_FIELDS else self.value(value)
            for key, value in record.items()
        }

    def attributes(self, attributes: Mapping[str, str]) -> dict[str, str]:
        """Participant attributes as stored; a field the policy says not to store at all is dropped."""
        result: dict[str, str] = {}
        for key, value in attributes.items():
            if self.policy == "none" and key.endswith(("phoneNumber", "PhoneNumber")):
                continue
            result[key] = self.text(value)
        return result

    def _mask_phone(self, number: str) -> str:
        return hide_phone_number(number) if self.policy == "none" else mask_phone_number(number)

    def _replace(self, original: str, key: str, mask: Callable[[str], str]) -> str:
        """The masked form of `original`, whose identity is `key` (its digits, or the address).

        The same key keeps its suffix in every spelling ("+49 151..." and "+49151..."); a masked
        form that belongs to another key gets the next free suffix."""
        candidate = mask(original)
        suffix = self._suffixes.get(key)
        if suffix is None:
            suffix, number = "", 2
            while self._owners.get(candidate + suffix, key) != key:
                suffix, number = f"#{number}", number + 1
            self._suffixes[key] = suffix
        masked = candidate + suffix
        self._owners.setdefault(masked, key)
        return masked


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


# -- logs ---------------------------------------------------------------------------------------

_STANDARD_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


class RedactingFilter(logging.Filter):
    """Masks phone numbers and e-mails in a log record's message and extra fields.

    Installed on handlers (not loggers) so that it also sees records of third-party loggers and of
    child processes forwarded to this one (livekit-agents logs room names as extras).
    """

    def __init__(self, policy: PhoneNumberPolicy = "masked") -> None:
        super().__init__()
        self._redactor = Redactor(policy)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_pii_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True  # a broken format string is logging's problem to report, not ours
        redacted = self._redactor.text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        for name, value in list(vars(record).items()):
            if name in _STANDARD_RECORD_FIELDS or name.startswith("_"):
                continue
            if isinstance(value, str | Mapping | list | tuple):
                record.__dict__[name] = self._redactor.value(value)
            elif value is not None and not isinstance(value, int | float | bool):
                text = str(value)
                if contains_personal_data(text):
                    record.__dict__[name] = self._redactor.text(text)
        record._pii_redacted = True
        return True


def install_log_redaction(policy: PhoneNumberPolicy = "masked") -> None:
    """Add a `RedactingFilter` to every handler of the root logger and of named loggers (idempotent).

    Call it again after a library installs handlers of its own (the LiveKit worker does so once it
    has started)."""
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter(policy))
