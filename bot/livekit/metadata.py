"""Dispatch metadata: what the CRM needs back with the summary (deal/ticket id, host, webhook).

`emotion-bot invite` validates it before creating the dispatch (a clear error for the user); a job
that receives metadata it cannot parse still analyses the call and records the metadata as invalid,
because a CRM typo must not cost the analysis of a call already in progress.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

# LiveKit carries dispatch metadata as a string; keep it well under what a CRM should need.
MAX_METADATA_BYTES = 4096
_STRING_FIELDS = ("deal_id", "ticket_id", "host_identity", "webhook_url")
_MAX_FIELD_CHARS = 512


class InvalidMetadataError(ValueError):
    """Dispatch metadata that is not a JSON object of the documented fields."""


@dataclass(frozen=True, slots=True)
class CallMetadata:
    """Validated dispatch metadata.

    `crm` is an opaque JSON object echoed back verbatim (for fields this bot has no opinion on).
    """

    deal_id: str | None = None
    ticket_id: str | None = None
    host_identity: str | None = None
    webhook_url: str | None = None
    crm: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The canonical dispatch metadata string ("" when there is nothing to send)."""
        record = self.as_record()
        return json.dumps(record, separators=(",", ":"), sort_keys=True) if record else ""

    def as_record(self) -> dict[str, Any]:
        """The dict stored with the call and echoed in the summary (no None values)."""
        record: dict[str, Any] = {name: getattr(self, name) for name in _STRING_FIELDS}
        record = {k: v for k, v in record.items() if v is not None}
        if self.crm:
            record["crm"] = self.crm
        return record


def parse_metadata(raw: str | None) -> CallMetadata:
    """Parse and validate dispatch metadata; empty means "no metadata". Raises InvalidMetadataError."""
    if raw is None or not raw.strip():
        return CallMetadata()
    if len(raw.encode()) > MAX_METADATA_BYTES:
        raise InvalidMetadataError(
            f"metadata is {len(raw.encode())} bytes; the limit is {MAX_METADATA_BYTES}"
        )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidMetadataError(f"metadata is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidMetadataError(f"metadata must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - {*_STRING_FIELDS, "crm"})
    if unknown:
        raise InvalidMetadataError(
            f"unknown metadata field(s) {unknown}; allowed: {[*_STRING_FIELDS, 'crm']} "
            '(put free-form CRM data under "crm")'
        )
    values: dict[str, Any] = {}
    for name in _STRING_FIELDS:
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # numeric deal/ticket ids are common in CRMs
        if not isinstance(value, str) or not value.strip():
            raise InvalidMetadataError(f"metadata field {name!r} must be a non-empty string")
        if len(value) > _MAX_FIELD_CHARS:
            raise InvalidMetadataError(
                f"metadata field {name!r} is longer than {_MAX_FIELD_CHARS} characters"
            )
        values[name] = value.strip()
    if "webhook_url" in values:
        _check_webhook_url(values["webhook_url"])
    crm = data.get("crm", {})
    if not isinstance(crm, dict):
        raise InvalidMetadataError("metadata field 'crm' must be a JSON object")
    return CallMetadata(**values, crm=crm)


def metadata_for_job(raw: str | None) -> tuple[CallMetadata | None, dict[str, Any]]:
    """What a job stores: (parsed metadata or None, the record to store with the call).

    Invalid metadata is kept (truncated) and flagged, so the CRM can see why its ids are missing.
    """
    try:
        metadata = parse_metadata(raw)
    except InvalidMetadataError as exc:
        return None, {"invalid": True, "error": str(exc), "raw": (raw or "")[:MAX_METADATA_BYTES]}
    return metadata, metadata.as_record()


def _check_webhook_url(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidMetadataError(f"metadata webhook_url must be an http(s) URL, got {url!r}")
