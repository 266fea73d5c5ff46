"""A room without a server: emits the SDK's own room events and hands over real local tracks.

`simulate` and the tests publish `rtc.LocalVideoTrack`/`rtc.LocalAudioTrack` objects here; the room
handling code reads them through the same `rtc.VideoStream`/`rtc.AudioStream` calls it uses on a
live room's remote tracks. Only the signalling is faked, never the media.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from livekit import rtc

_sids = itertools.count(1)


@dataclass(eq=False)
class FakePublication:
    """The fields of `rtc.RemoteTrackPublication` the room code reads."""

    track: rtc.Track | None
    source: rtc.TrackSource.ValueType
    kind: rtc.TrackKind.ValueType
    sid: str = field(default_factory=lambda: f"TR_fake{next(_sids)}")
    name: str = ""
    subscribed: bool = True


@dataclass(eq=False)
class FakeParticipant:
    """The fields of `rtc.RemoteParticipant` the room code reads."""

    identity: str
    name: str = ""
    kind: rtc.ParticipantKind.ValueType = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD
    attributes: dict[str, str] = field(default_factory=dict)
    sid: str = field(default_factory=lambda: f"PA_fake{next(_sids)}")
    track_publications: dict[str, FakePublication] = field(default_factory=dict)


class FakeRoom(rtc.EventEmitter[str]):
    """Signalling of a room, driven by the caller: join, publish, unpublish, leave, close."""

    def __init__(self, name: str = "simulated") -> None:
        super().__init__()
        self.name = name
        self.remote_participants: dict[str, FakeParticipant] = {}

    def join(
        self,
        identity: str,
        *,
        name: str = "",
        kind: rtc.ParticipantKind.ValueType = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD,
        attributes: dict[str, str] | None = None,
    ) -> FakeParticipant:
        """A participant connects (a rejoin with the same identity is a new participant object)."""
        participant = FakeParticipant(
            identity=identity, name=name, kind=kind, attributes=dict(attributes or {})
        )
        self.remote_participants[identity] = participant
        self.emit("participant_connected", participant)
        return participant

    def publish(
        self, participant: FakeParticipant, track: rtc.Track, source: rtc.TrackSource.ValueType
    ) -> FakePublication:
        """Publish a track; a hidden subscriber with auto-subscribe gets it right away."""
        publication = FakePublication(track=track, source=source, kind=track.kind, name=track.name)
        participant.track_publications[publication.sid] = publication
        self.emit("track_published", publication, participant)
        self.emit("track_subscribed", track, publication, participant)
        return publication

    def unpublish(self, participant: FakeParticipant, publication: FakePublication) -> None:
        """Unpublish in the server's order: unsubscribed, then unpublished."""
        participant.track_publications.pop(publication.sid, None)
        track, publication.track, publication.subscribed = publication.track, None, False
        self.emit("track_unsubscribed", track, publication, participant)
        self.emit("track_unpublished", publication, participant)

    def leave(self, participant: FakeParticipant) -> None:
        """A participant disconnects: their tracks go first, as on a real server."""
        for publication in list(participant.track_publications.values()):
            self.unpublish(participant, publication)
        self.remote_participants.pop(participant.identity, None)
        self.emit("participant_disconnected", participant)

    def close(self, reason: Any = rtc.DisconnectReason.ROOM_CLOSED) -> None:
        """The server closed the room."""
        self.emit("disconnected", reason)
