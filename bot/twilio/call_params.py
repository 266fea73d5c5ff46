"""`start.customParameters` -> the call's metadata record and the caller's number.

The stream's `<Parameter>`s carry what `emotion-bot invite --metadata` carries (deal_id, ticket_id,
host_identity, webhook_url, and `crm`: a JSON object, given as a JSON string because parameters are
strings), validated by the same `parse_metadata`. As for a LiveKit job, metadata that does not
validate does not cost the analysis of a call in progress: it is stored flagged `invalid` with the
reason. `caller_number` is taken out first: it becomes the caller's `Person.phone_number`, which the
session masks under the phone-number policy, so the raw number never reaches the metadata record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.livekit.metadata import CallMetadata, metadata_for_job

CALLER_NUMBER = "caller_number"


@dataclass(frozen=True, slots=True)
class StreamParameters:
    metadata: CallMetadata | None  # None: the parameters did not validate (see record["error"])
    record: dict[str, Any]  # what is stored with the call (invite-style fields, or the invalid flag)
    caller_number: str | None


def parse_parameters(params: Mapping[str, str]) -> StreamParameters:
    fields = {k: v for k, v in params.items() if k != CALLER_NUMBER}
    caller = (params.get(CALLER_NUMBER) or "").strip() or None
    if "crm" in fields:
        try:
            fields["crm"] = json.loads(fields["crm"])
        except (TypeError, ValueError):
            pass  # left a string: parse_metadata says "'crm' must be a JSON object"
    raw = json.dumps(fields, separators=(",", ":"), sort_keys=True) if fields else ""
    metadata, record = metadata_for_job(raw)
    return StreamParameters(metadata=metadata, record=record, caller_number=caller)
