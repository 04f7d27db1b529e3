"""One self-contained HTML model report: metrics tables and the figures, images inlined."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes; the figure is closed (pyplot would keep it alive)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _table(title: str, values: Mapping[str, object]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in values.items()
    )
    return f"<h2>{html.escape(title)}</h2><table>{rows}</table>"


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def render(
    title: str, sections: Mapping[str, Mapping[str, object]], figures: Mapping[str, bytes]
) -> str:
    """The report page; opens offline (no scripts, no external links)."""
    tables = "".join(_table(name, values) for name, values in sections.items())
    images = "".join(
        f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,"
        f"{base64.b64encode(png).decode()}'><figcaption>{html.escape(name)}</figcaption></figure>"
        for name, png in figures.items()
    )
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;margin-bottom:1em}"
        "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}"
        "figure{display:inline-block;margin:0.5em}img{max-width:560px}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{tables}{images}"
        "</body></html>"
    )
