"""Zoom meetings through Realtime Media Streams (RTMS), mounted on the `serve` gateway.

The adapter only translates: Zoom's webhooks and RTMS messages become participant lifecycle events
(`bot.calls`) and media pushed to the pipeline. Policy, summary, storage and delivery are the shared
layer's. The protocol is described, with sources, in docs/ZOOM_RTMS.md of the shared docs.
"""
