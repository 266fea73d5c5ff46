"""Reports rendered from a seeded database: the content is checked, not just that a file exists."""

from __future__ import annotations

import csv
import re
from dataclasses import replace
from pathlib import Path

from bot.cli import main
from bot.review.data import review_call, review_host
from bot.review.html import render_call_report, render_host_report
from storage.db import Database
from storage.repository import create_call, upsert_participant
from tests.review.seed import HOST, Seeded, seed


def test_host_review_numbers(seeded: tuple[Database, Seeded]) -> None:
    db, s = seeded
    review = review_host(db, HOST)
    assert [c.call_id for c in review.calls] == s.calls  # oldest first, the other host's call left out
    assert review.host_name == "Anna Teacher"
    calm, mixed, worst, active = review.calls
    assert calm.others_valence() > 0.3 > active.others_valence() - 0.3  # happy students
    assert worst.others_valence() < mixed.others_valence() < 0
    assert worst.others_negative_share() > 0.35  # kim angry 25 s of 60
    assert review.standout_calls(1) == [worst]
    (call, episode), *_ = review.worst_episodes()
    assert (call.call_id, episode["identity"], episode["label"]) == (worst.call_id, "kim", "angry")
    assert (episode["start_s"], episode["end_s"]) == (20.0, 45.0)
    lee = next(p for p in worst.participants if p.identity == "lee")
    assert (lee.analysed, lee.not_analysed_reason, lee.shares) == (False, "opted_out", None)
    assert "lee" not in worst.valence_series  # opted out: their timeline was deleted and is not shown
    assert active.status == "active" and active.participants  # no stored summary: built on the fly


def test_host_html_report_content(seeded: tuple[Database, Seeded], tmp_path: Path) -> None:
    db, s = seeded
    out = tmp_path / "anna.html"
    assert main(["report", "--host", HOST, "--html", str(out), "--db", str(db.url.database)]) == 0
    html = out.read_text()
    assert "Calls hosted by Anna Teacher" in html
    for call_id in s.calls:
        assert call_id in html
    assert s.other_host_call not in html
    review = review_host(db, HOST)
    worst = review.calls[2]
    assert f"{worst.others_valence():+.2f}" in html
    assert "D-3" in html and "0:20–0:45" in html and "2026-10-07 09:00:20" in html  # the worst moment
    assert "the participant opted out" in html
    assert html.count("<svg") == 2 + len(s.calls)  # trend, shares per call, one timeline per call
    assert len(re.findall(r'<polyline class="series"', html)) >= len(s.calls) + 1
    assert len(re.findall(r'<rect class="share"', html)) >= 4
    assert "<script" not in html and "src=" not in html and "href=" not in html  # offline, single file


def test_since_until_and_csv(seeded: tuple[Database, Seeded], tmp_path: Path) -> None:
    db, s = seeded
    out = tmp_path / "anna.csv"
    args = ["report", "--host", HOST, "--since", "2026-10-06", "--until", "2026-10-07", "--csv", str(out)]
    assert main([*args, "--db", str(db.url.database)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert {r["call_id"] for r in rows} == set(s.calls[1:3])  # days 2 and 3 only (until is inclusive)
    kim = next(r for r in rows if r["call_id"] == s.calls[2] and r["participant_identity"] == "kim")
    assert (kim["worst_episode_label"], kim["worst_episode_start_s"], kim["alerts"]) == ("angry", "20.0", "1")
    assert float(kim["share_angry"]) > 0.35 and kim["deal_id"] == "D-3"
    lee = next(r for r in rows if r["participant_identity"] == "lee")
    assert (lee["analysed"], lee["not_analysed_reason"], lee["valence_mean"]) == (
        "False",
        "the participant opted out",
        "",
    )
    host_rows = [r for r in rows if r["is_host"] == "True"]
    assert {r["participant_identity"] for r in host_rows} == {HOST}


def test_call_html_report(seeded: tuple[Database, Seeded], tmp_path: Path) -> None:
    db, s = seeded
    out = tmp_path / "call.html"
    assert main(["report", "--call", s.calls[2], "--html", str(out), "--db", str(db.url.database)]) == 0
    html = out.read_text()
    assert f"Call {s.calls[2]}" in html and "deal_id D-3" in html
    assert "Kim" in html and "angry_for_10s" in html and "kim: angry for 10 s" in html
    assert html.count('<polyline class="series"') == 1  # kim only: lee opted out
    assert "Share of analysed time" in html and "not analysed" in html
    assert main(["report", "--call", "no-such-call", "--db", str(db.url.database)]) == 1


def test_names_are_escaped(seeded: tuple[Database, Seeded]) -> None:
    db, s = seeded
    review = review_call(db, s.calls[0])
    evil = '<script>alert("x")</script>'
    review = replace(
        review,
        room=evil,
        participants=[replace(p, display_name=evil) for p in review.participants],
    )
    html = render_call_report(review)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_same_review_on_both_databases(db: Database) -> None:
    s = seed(db)
    review = review_host(db, HOST)
    assert [c.call_id for c in review.calls] == s.calls
    worst = review.calls[2]
    assert worst.others_negative_share() > 0.35 and len(worst.alerts) == 1
    assert "Calls hosted by Anna Teacher" in render_host_report(review)


def test_host_found_by_role_when_metadata_names_none(db: Database) -> None:
    call_id = create_call(db, room="office-hours", source="livekit", metadata={"deal_id": "D-77"})
    upsert_participant(db, call_id, "prof-x", display_name="Prof X", attributes={"emotion.role": "Teacher"})
    upsert_participant(db, call_id, "stu-1", display_name="Stu")
    (call,) = review_host(db, "prof-x").calls
    assert call.call_id == call_id and [p.identity for p in call.others] == ["stu-1"]
    assert review_host(db, "stu-1").calls == []
