"""The livekit SDK's two harmless warnings are demoted to DEBUG; its other messages pass unchanged."""

from __future__ import annotations

import logging

import pytest

import bot.livekit  # noqa: F401  (installs the filter, as every bot.livekit import does)

FFI_DROP = "livekit_ffi::server:279:livekit_ffi::server - Attempted to drop unknown FFI handle: 45"
QUEUE = (
    "libwebrtc::imp::video_stream:295:libwebrtc - native video stream queue overflow; dropped 1 queued frames"
)


@pytest.fixture
def sdk_logger():
    logger = logging.getLogger("livekit")
    level = logger.level
    yield logger
    logger.setLevel(level)


def test_harmless_sdk_warnings_are_not_shown(sdk_logger, caplog):
    sdk_logger.setLevel(logging.INFO)
    with caplog.at_level(logging.INFO, logger="livekit"):
        sdk_logger.warning("%s", FFI_DROP)
        sdk_logger.warning(QUEUE)
        sdk_logger.warning("livekit_ffi::room - a real problem")
        sdk_logger.error("livekit - Attempted to drop unknown FFI handle while closing: an error stays")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "livekit_ffi::room - a real problem"),
        ("ERROR", "livekit - Attempted to drop unknown FFI handle while closing: an error stays"),
    ]


def test_with_debug_logging_they_appear_as_debug(sdk_logger, caplog):
    sdk_logger.setLevel(logging.DEBUG)
    with caplog.at_level(logging.DEBUG, logger="livekit"):
        sdk_logger.warning("%s", FFI_DROP)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("DEBUG", FFI_DROP)]
