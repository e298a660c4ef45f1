"""A probe's response times as an SVG drawn on the server: nothing to load, no JavaScript to run."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, MARGIN = 640, 160, 28


def response_time_svg(points: Sequence[tuple[str, float, bool]], title: str) -> str:
    """`points` are (time label, milliseconds, passed), oldest first. Failed runs are marked with a
    cross as well as a colour, so the chart does not rely on colour alone."""
    if not points:
        return f'<p class="muted">No runs of {escape(title)} yet.</p>'
    top = max(ms for _, ms, _ in points) * 1.1 or 1.0
    step = (WIDTH - 2 * MARGIN) / max(len(points) - 1, 1)

    def x(index: int) -> float:
        return MARGIN + index * step

    def y(ms: float) -> float:
        return HEIGHT - MARGIN - (ms / top) * (HEIGHT - 2 * MARGIN)

    line = " ".join(f"{x(i):.1f},{y(ms):.1f}" for i, (_, ms, _) in enumerate(points))
    marks = []
    for i, (label, ms, passed) in enumerate(points):
        tip = f"<title>{escape(label)}: {ms:.0f} ms{'' if passed else ', failed'}</title>"
        if passed:
            marks.append(f'<circle cx="{x(i):.1f}" cy="{y(ms):.1f}" r="2.5" class="ok">{tip}</circle>')
        else:
            cx, cy = x(i), y(ms)
            marks.append(f'<path d="M{cx - 4:.1f},{cy - 4:.1f}L{cx + 4:.1f},{cy + 4:.1f}M{cx - 4:.1f},{cy + 4:.1f}'
                         f'L{cx + 4:.1f},{cy - 4:.1f}" class="failed">{tip}</path>')
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" y2="{HEIGHT - MARGIN}" class="axis"/>'
        f'<text x="{MARGIN}" y="{MARGIN - 8}" class="label">{top:.0f} ms</text>'
        f'<text x="{MARGIN}" y="{HEIGHT - 8}" class="label">{escape(points[0][0])}</text>'
        f'<text x="{WIDTH - MARGIN}" y="{HEIGHT - 8}" class="label" text-anchor="end">{escape(points[-1][0])}</text>'
        f'<polyline points="{line}" class="line"/>{"".join(marks)}</svg>'
    )
