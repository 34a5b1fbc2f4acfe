"""The rulebook diff as a static HTML page for people: tables, and charts made with Vega-Altair
and rendered to inline SVG by vl-convert — no JavaScript, nothing fetched over the network, so
the page can be mailed, archived and printed as it is."""

from __future__ import annotations

from typing import Any

import altair as alt
import vl_convert

from candor.services.templates import template

# Regions in the region chart: the most populous (the JSON and the table have every region).
REGIONS_CHARTED = 25
WIDTH = 520
WORSE, BETTER = "#c0392b", "#2e86c1"
# What a chart function hands back (Altair's chaining methods are not all typed).
Chart = alt.TopLevelMixin


def _svg(chart: Chart) -> str:
    """The chart as SVG markup (vl-convert escapes the text in it; the template inserts it
    with ``safe``)."""
    svg: str = vl_convert.vegalite_to_svg(chart.to_json())
    return svg


def _transitions(report: dict[str, Any]) -> Chart:
    grades: list[str] = report["grades"]
    cells = [
        {"old": old, "new": new, "subjects": n, "moved": old != new}
        for old, row in report["transitions"].items()
        for new, n in row.items()
        if n
    ]
    base = alt.Chart(alt.InlineData(values=cells)).encode(
        x=alt.X("new:N", sort=grades, title=f"grade under NEW ({report['new']['version']})"),
        y=alt.Y("old:N", sort=grades, title=f"grade under OLD ({report['old']['version']})"),
    )
    rect = base.mark_rect().encode(
        color=alt.Color("subjects:Q", scale=alt.Scale(type="log", scheme="blues"), legend=None)
    )
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("subjects:Q", format=","),
        color=alt.condition("datum.moved", alt.value(WORSE), alt.value("black")),
    )
    side = max(160, 44 * len(grades))
    return alt.layer(rect, text).properties(
        width=side, height=side, title="Subjects by grade, OLD → NEW (off the diagonal: moved)"
    )


def _rules(report: dict[str, Any]) -> Chart | None:
    rows = [r for r in report["rules"] if r["change"]]
    if not rows:
        return None
    chart: Chart = (
        alt.Chart(alt.InlineData(values=rows))
        .mark_bar()
        .encode(
            x=alt.X("change:Q", title="change in points given in all (NEW − OLD)"),
            y=alt.Y("rule:N", sort=[r["rule"] for r in rows], title=None),
            color=alt.condition("datum.change < 0", alt.value(WORSE), alt.value(BETTER)),
        )
        .properties(width=WIDTH, title="Points per rule: what changed")
    )
    return chart


def _paired(
    rows: list[dict[str, Any]], name: str, worse: str, better: str, title: str
) -> Chart | None:
    """Bars of subjects moved each way per list (or measure)."""
    values = [
        {name: r[name], "moved": label, "subjects": r[key]}
        for r in rows
        for key, label in ((worse, worse.replace("_", " ")), (better, better.replace("_", " ")))
        if r[key]
    ]
    if not values:
        return None
    chart: Chart = (
        alt.Chart(alt.InlineData(values=values))
        .mark_bar()
        .encode(
            x=alt.X("subjects:Q", title="subjects"),
            y=alt.Y(f"{name}:N", title=None),
            yOffset="moved:N",
            color=alt.Color(
                "moved:N",
                scale=alt.Scale(
                    domain=[worse.replace("_", " "), better.replace("_", " ")],
                    range=[WORSE, BETTER],
                ),
                title=None,
            ),
        )
        .properties(width=WIDTH, title=title)
    )
    return chart


def _by_kind(report: dict[str, Any]) -> Chart:
    values = [
        {"kind": k["kind"], "moved": label, "subjects": k[key]}
        for k in report["by_kind"]
        for key, label in (("adversely_moved", "adversely"), ("favourably_moved", "favourably"))
    ]
    chart: Chart = (
        alt.Chart(alt.InlineData(values=values))
        .mark_bar()
        .encode(
            x=alt.X("subjects:Q", title="subjects moved"),
            y=alt.Y("kind:N", title=None),
            yOffset="moved:N",
            color=alt.Color(
                "moved:N",
                scale=alt.Scale(domain=["adversely", "favourably"], range=[WORSE, BETTER]),
                title=None,
            ),
        )
        .properties(width=WIDTH, title="Subjects moved, by kind")
    )
    return chart


def _disparity(rows: list[dict[str, Any]], title: str) -> Chart | None:
    """Bars of each group's disparity ratio, a rule at 1 (rows: ``label``, the JSON's keys)."""
    values = [
        {"group": f"{r['label']} ({r['subjects']:,})", "ratio": r["disparity_ratio"]}
        for r in rows
        if r["disparity_ratio"] is not None
    ]
    if not values:
        return None
    bars = (
        alt.Chart(alt.InlineData(values=values))
        .mark_bar()
        .encode(
            x=alt.X("ratio:Q", title="share adversely moved ÷ overall share"),
            y=alt.Y("group:N", sort=[v["group"] for v in values], title="(subjects)"),
            color=alt.condition("datum.ratio > 1", alt.value(WORSE), alt.value("#999999")),
        )
    )
    one = (
        alt.Chart(alt.InlineData(values=[{"one": 1}]))
        .mark_rule(strokeDash=[4, 3])
        .encode(x="one:Q")
    )
    return alt.layer(bars, one).properties(width=WIDTH, title=title)


def charts(report: dict[str, Any]) -> dict[str, str]:
    """Each chart the report has data for, as inline SVG, by name."""
    regions = report["by_region"][:REGIONS_CHARTED]
    made = {
        "transitions": _transitions(report),
        "rules": _rules(report),
        "lists": _paired(
            report["lists"], "list", "newly_listed", "delisted", "Listings in force: who moved"
        ),
        "measures": _paired(
            report["measures"],
            "measure",
            "newly_applying",
            "no_longer_applying",
            "Measures: to whom they newly apply, or no longer",
        ),
        "kinds": _by_kind(report),
        "provinces": _disparity(
            [{**p, "label": p["province"]} for p in report["by_province"]],
            "Disparity by province (1: as everyone)",
        ),
        "regions": _disparity(
            [
                {**r, "label": f"{r['region_code'] or 'unknown'} {r['province'] or ''}".strip()}
                for r in regions
            ],
            f"Disparity in the {len(regions)} regions with most subjects",
        ),
    }
    return {name: _svg(chart) for name, chart in made.items() if chart is not None}


def render_html(report: dict[str, Any]) -> str:
    """``report`` (``RulebookDiff.to_json()``) as a self-contained HTML page."""
    return template("rulebook_diff.html.j2").render(report=report, charts=charts(report))
