"""Join tokens (decoded JWT grants), dispatch metadata validation and round trip, phone masking."""

from __future__ import annotations

import json

import jwt
import pytest
from livekit import api

from bot.livekit.credentials import LiveKitCredentials, MissingCredentialsError
from bot.livekit.metadata import InvalidMetadataError, metadata_for_job, parse_metadata
from bot.livekit.tokens import mint_join_token
from bot.livekit.worker import PERMISSIONS, build_server
from bot.policy.pii import Redactor, apply_phone_policy, mask_phone_number

CREDENTIALS = LiveKitCredentials(
    url="ws://127.0.0.1:7880", api_key="devkey", api_secret="secret-for-tests-32-bytes-long!!"
)


def decode(token: str) -> dict:
    return jwt.decode(token, CREDENTIALS.api_secret, algorithms=["HS256"], issuer=CREDENTIALS.api_key)


def test_standard_token_grants_join_publish_subscribe_for_one_room():
    claims = decode(mint_join_token(CREDENTIALS, room="deal-42", identity="u-1", name="Customer"))
    assert claims["sub"] == "u-1" and claims["name"] == "Customer"
    video = claims["video"]
    assert video["roomJoin"] is True and video["room"] == "deal-42"
    assert video["canPublish"] is True and video["canSubscribe"] is True
    assert claims.get("kind", "standard") == "standard"
    assert "attributes" not in claims
    assert claims["exp"] > claims["nbf"]


def test_sip_token_makes_a_phone_participant_with_its_number():
    claims = decode(
        mint_join_token(CREDENTIALS, room="r", identity="caller-1", sip_phone_number="+4915112345689")
    )
    assert claims["kind"] == "sip"
    assert claims["attributes"]["sip.phoneNumber"] == "+4915112345689"
    # The SDK's own verifier accepts it too.
    verified = api.TokenVerifier(CREDENTIALS.api_key, CREDENTIALS.api_secret).verify(
        mint_join_token(CREDENTIALS, room="r", identity="caller-1", sip_phone_number="+1")
    )
    assert verified.kind == "sip" and verified.video.room == "r"


def test_token_refuses_empty_room_and_wrong_secret_fails_verification():
    with pytest.raises(ValueError):
        mint_join_token(CREDENTIALS, room=" ", identity="x")
    token = mint_join_token(CREDENTIALS, room="r", identity="x")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another-secret-of-enough-length!", algorithms=["HS256"])


def test_missing_credentials_name_the_variables():
    with pytest.raises(MissingCredentialsError, match="LIVEKIT_API_SECRET"):
        LiveKitCredentials.from_env({"LIVEKIT_API_KEY": "k", "LIVEKIT_URL": "ws://x"})
    assert LiveKitCredentials.from_env({"LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s"}, need_url=False)


def test_metadata_round_trip_through_the_dispatch_string():
    raw = json.dumps(
        {
            "deal_id": 4711,
            "host_identity": "agent-7",
            "webhook_url": "https://crm.example/h",
            "crm": {"stage": "demo"},
        }
    )
    metadata = parse_metadata(raw)
    assert metadata.deal_id == "4711"  # numeric CRM ids become strings
    # What `invite` sends is what the job parses back, and what is stored/echoed.
    job_metadata, record = metadata_for_job(metadata.to_json())
    assert job_metadata == metadata
    assert record == {
        "deal_id": "4711",
        "host_identity": "agent-7",
        "webhook_url": "https://crm.example/h",
        "crm": {"stage": "demo"},
    }
    assert parse_metadata("").as_record() == {} and parse_metadata("").to_json() == ""


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"deal": "x"}', "unknown metadata field"),
        ('{"deal_id": ""}', "non-empty string"),
        ('{"webhook_url": "ftp://x/y"}', "http"),
        ('{"crm": "text"}', "'crm' must be a JSON object"),
        (json.dumps({"crm": {"x": "y" * 5000}}), "bytes"),
    ],
)
def test_malformed_metadata_is_a_clear_error_at_invite(raw, message):
    with pytest.raises(InvalidMetadataError, match=message):
        parse_metadata(raw)


def test_malformed_metadata_in_a_job_is_recorded_as_invalid_not_fatal():
    metadata, record = metadata_for_job('{"deal_id": 1, "webhook_url": "nope"}')
    assert metadata is None
    assert record["invalid"] is True and "webhook_url" in record["error"]
    assert record["raw"] == '{"deal_id": 1, "webhook_url": "nope"}'


def test_phone_numbers_are_masked_by_default():
    assert mask_phone_number("+4915112345689") == "+4915*******89"  # length kept, middle hidden
    assert mask_phone_number("+49 151 1234 5689") == "+49 15* **** **89"
    assert mask_phone_number("0123") == "**23"  # too short for a prefix: last two digits only
    assert mask_phone_number("12") == "**"
    assert apply_phone_policy("+4915112345689", "masked") == "+4915*******89"
    assert apply_phone_policy("+4915112345689", "full") == "+4915112345689"
    assert apply_phone_policy(None, "masked") is None
    attributes = Redactor("masked").attributes({"sip.phoneNumber": "+4915112345689", "sip.callID": "c1"})
    assert attributes == {"sip.phoneNumber": "+4915*******89", "sip.callID": "c1"}


def test_worker_is_hidden_subscribe_only_and_explicitly_dispatched():
    assert PERMISSIONS.hidden and PERMISSIONS.can_subscribe
    assert not PERMISSIONS.can_publish and not PERMISSIONS.can_publish_data
    server = build_server(port=0)
    assert server._agent_name == "emotion-bot"  # agent name set: no automatic dispatch
    assert server.setup_fnc is not None  # models load once per process, in prewarm
