"""Single-file offline HTML reports (inline CSS and SVG; nothing is fetched when opened)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from html import escape

from bot.policy.decide import reason_text
from bot.review.data import CallReview, HostReview, ParticipantReview
from bot.review.svg import line_chart, share_bars

_CSS = """
body{font-family:sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left}th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#777}.neg{color:#b00}
"""


def _num(value: float | None, fmt: str = "{:+.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, sections: Sequence[str]) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        + "".join(sections)
        + "</body></html>\n"
    )


def _participants_table(call: CallReview) -> str:
    def row(p: ParticipantReview) -> list[str]:
        dominant = max(p.shares, key=lambda k: p.shares[k]) if p.shares else "-"  # type: ignore[index]
        status = (
            "analysed"
            if p.analysed
            else f'<span class="muted">{escape(reason_text(p.not_analysed_reason or "not analysed"))}</span>'
        )
        return [
            escape(p.name),
            escape(p.role or "-"),
            status,
            escape(dominant),
            _pct(p.negative_share),
            _num(p.valence_mean),
            _num(p.valence_trend_per_min),
            str(len(p.episodes)),
        ]

    headers = ["participant", "role", "analysis", "dominant", "negative", "valence", "trend/min", "episodes"]
    return _table(headers, (row(p) for p in call.participants), numeric={4, 5, 6, 7})


def _episodes_table(items: Sequence[tuple[CallReview, dict]], with_call: bool) -> str:
    if not items:
        return '<p class="muted">No negative episodes.</p>'
    rows = []
    for call, episode in items:
        start = float(episode.get("start_s", 0.0))
        at = call.started_at + timedelta(seconds=start)
        cells = [escape(call.call_id)] if with_call else []
        cells += [
            escape(str(episode.get("identity", "-"))),
            f'<span class="neg">{escape(str(episode.get("label", "-")))}</span>',
            f"{_clock(start)}–{_clock(float(episode.get('end_s', start)))}",
            escape(at.strftime("%Y-%m-%d %H:%M:%S")),
            _num(episode.get("duration_s"), "{:.1f} s"),
            _num(episode.get("peak"), "{:.2f}"),
        ]
        rows.append(cells)
    headers = (["call"] if with_call else []) + [
        "participant",
        "emotion",
        "in call",
        "at (UTC)",
        "length",
        "peak",
    ]
    return _table(headers, rows, numeric={len(headers) - 2, len(headers) - 1})


def _alerts_list(call: CallReview) -> str:
    if not call.alerts:
        return '<p class="muted">No live alerts.</p>'
    rows = [
        [
            escape(str(a.get("rule"))),
            escape(str(a.get("description"))),
            _clock(float(a.get("detected_s", 0.0))),
        ]
        for a in call.alerts
    ]
    return _table(["rule", "what", "detected at"], rows)


def _call_timeline_chart(call: CallReview) -> str:
    names = {p.identity: p.name for p in call.participants}
    series = {names.get(identity, identity): points for identity, points in call.valence_series.items()}
    if not series:
        return '<p class="muted">No stored timeline (purged, or nobody analysed).</p>'
    end = max((x for points in series.values() for x, _ in points), default=call.duration_s)
    ticks = [(end * i / 4, _clock(end * i / 4)) for i in range(5)]
    return line_chart(series, title="Valence over the call", x_label="time in call (m:ss)", x_ticks=ticks)


def render_call_report(call: CallReview) -> str:
    """One call: participants, per-participant timelines and emotion shares, episodes, alerts."""
    ids = ", ".join(f"{k} {escape(v)}" for k, v in call.external_ids().items())
    header = (
        f"<h1>Call {escape(call.call_id)}</h1>"
        f"<p>Room {escape(call.room)} · {_when(call.started_at)} · {_clock(call.duration_s)} min · "
        f"status {escape(call.status)}{' · ' + ids if ids else ''}"
        f"{' · host ' + escape(call.host_identity) if call.host_identity else ''}</p>"
    )
    episodes = [(call, e) for p in call.participants for e in p.episodes]
    episodes.sort(key=lambda item: -float(item[1].get("strength", 0.0)))
    return _page(
        f"Call {call.call_id}",
        [
            header,
            "<h2>Participants</h2>",
            _participants_table(call),
            "<h2>Timeline</h2>",
            _call_timeline_chart(call),
            "<h2>Emotion shares</h2>",
            share_bars([(p.name, p.shares) for p in call.participants], title="Share of analysed time"),
            "<h2>Most negative moments</h2>",
            _episodes_table(episodes, with_call=False),
            "<h2>Live alerts</h2>",
            _alerts_list(call),
        ],
    )


def render_host_report(review: HostReview) -> str:
    """A host's calls: trend across calls, the calls and moments that stand out, then every call."""
    name = review.host_name or review.host
    since = _when(review.since) if review.since else "first call"
    period = f"{since} – {_when(review.until) if review.until else 'now'}"
    calls = review.calls
    trend = review.trend()
    slope = review.trend_slope_per_call()
    sections = [
        f"<h1>Calls hosted by {escape(name)}</h1>",
        f"<p>Host id {escape(review.host)} · {period} · {len(calls)} call(s). Numbers are about the other "
        "participants (the people the host talked to), never about the host.</p>",
    ]
    if not calls:
        sections.append('<p class="muted">No calls in this period.</p>')
        return _page(f"Host report {review.host}", sections)

    trend_text = (
        "-"
        if slope is None
        else f"{slope:+.3f} per call ({'improving' if slope > 0 else 'worsening' if slope < 0 else 'flat'})"
    )
    sections += [
        "<h2>Trend across calls</h2>",
        f"<p>Valence trend of the other participants: {trend_text}.</p>",
        line_chart(
            {"others' mean valence": [(i, v) for i, (_, v) in enumerate(trend)]},
            title="Other participants' mean valence per call",
            x_label="call (oldest to newest)",
            x_ticks=[(i, c.started_at.strftime("%m-%d")) for i, (c, _) in enumerate(trend)],
        )
        if trend
        else '<p class="muted">No analysed participants in these calls.</p>',
        share_bars(
            [(f"{c.started_at:%m-%d %H:%M}", c.others_shares()) for c in calls],
            title="Other participants' emotion shares per call",
        ),
        "<h2>Calls that stand out</h2>",
        _table(
            ["call", "started", "others' valence", "negative share", "alerts"],
            (
                [
                    escape(c.call_id),
                    _when(c.started_at),
                    _num(c.others_valence()),
                    _pct(c.others_negative_share()),
                    str(len(c.alerts)),
                ]
                for c in review.standout_calls()
            ),
            numeric={2, 3, 4},
        ),
        "<h2>Most negative moments</h2>",
        _episodes_table(review.worst_episodes(), with_call=True),
        "<h2>All calls</h2>",
        _table(
            [
                "call",
                "started",
                "length",
                "ids",
                "participants",
                "others' valence",
                "negative share",
                "alerts",
            ],
            (
                [
                    escape(c.call_id),
                    _when(c.started_at),
                    _clock(c.duration_s),
                    escape(", ".join(f"{k}={v}" for k, v in c.external_ids().items()) or "-"),
                    escape(", ".join(p.name for p in c.others) or "-"),
                    _num(c.others_valence()),
                    _pct(c.others_negative_share()),
                    str(len(c.alerts)),
                ]
                for c in calls
            ),
            numeric={5, 6, 7},
        ),
    ]
    for call in calls:
        sections += [
            f"<h2>Call {escape(call.call_id)} · {_when(call.started_at)}</h2>",
            _participants_table(call),
            _call_timeline_chart(call),
        ]
    return _page(f"Host report {review.host}", sections)
