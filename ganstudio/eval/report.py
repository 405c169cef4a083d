"""Print evaluation results: a plain-text table, a Markdown table for the README, or JSON.

One row per measurement: model, metric, value, and what to compare it with (the same
measurement on real digits, an untrained generator, or the input returned unchanged).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from ganstudio.eval.suite import Judges, ModelReport, Score

COLUMNS = ("Model", "Metric", "Value", "Compare with")


def format_value(value: float | tuple[float, ...], kind: str) -> str:
    """A value as the table shows it: percent with one decimal, numbers to about three figures, shares as whole percent."""
    if kind == "shares":
        return " ".join(f"{100 * share:.0f}" for share in value)
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if kind == "percent":
        return f"{100 * value:.1f}%"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def format_references(score: Score) -> str:
    kind = "number" if score.kind == "shares" else score.kind
    return "; ".join(f"{name} {format_value(value, kind)}" for name, value in score.references.items())


def table_rows(reports: Sequence[ModelReport]) -> list[tuple[str, str, str, str]]:
    """The rows of the table, the model's name on the first row of its group only."""
    rows = []
    for report in reports:
        if report.status != "ok":
            rows.append((report.name, report.status, "", _first_line(report.message) if report.status == "failed" else ""))
            continue
        for index, score in enumerate(report.scores):
            rows.append((report.name if index == 0 else "", score.label, format_value(score.value, score.kind),
                         format_references(score)))
    return rows


def summary_lines(judges: Judges | None, samples: int) -> list[str]:
    if judges is None:  # only models measured from pixels
        return [f"Samples per measurement: {samples} (fixed seeds)."]
    return [
        (f"Digit classifier (judge): {100 * judges.digit_accuracy:.1f}% on {judges.digit_samples} held-out digits, "
         f"{100 * judges.digit_accuracy_attributes:.1f}% on the same digits with random colour/thickness/slant/shift."),
        f"Domain classifier (CycleGAN judge): {100 * judges.domain_accuracy:.1f}% on held-out renders of both domains.",
        f"Samples per measurement: {samples} (held-out test digits, fixed seeds).",
    ]


def format_text(reports: Sequence[ModelReport], judges: Judges | None, samples: int) -> str:
    """A plain-text table with aligned columns, under the judges' accuracy."""
    rows = [COLUMNS, *table_rows(reports)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()

    body = [line(rows[0]), "  ".join("-" * width for width in widths)]
    for row in rows[1:]:
        if row[0] and len(body) > 2:
            body.append("")  # a blank line between models
        body.append(line(row))
    return "\n".join([*summary_lines(judges, samples), "", *body]) + "\n"


def format_markdown(reports: Sequence[ModelReport], judges: Judges | None, samples: int) -> str:
    """A Markdown table (model names in bold), with the judges' accuracy as a paragraph above."""
    lines = [" ".join(summary_lines(judges, samples)), "", "| " + " | ".join(COLUMNS) + " |", "|---|---|---:|---|"]
    for model, metric, value, reference in table_rows(reports):
        cells = [f"**{model}**" if model else "", metric, value, reference]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def to_json(reports: Sequence[ModelReport], judges: Judges | None, samples: int) -> dict:
    """Plain data: the judges' accuracy and, per model, its status and scores by key (NaN as null)."""
    return {
        "samples": samples,
        "judges": None if judges is None else {
            "digit_accuracy": judges.digit_accuracy,
            "digit_accuracy_random_attributes": judges.digit_accuracy_attributes,
            "domain_accuracy": judges.domain_accuracy,
            "held_out_digits": judges.digit_samples,
        },
        "models": [
            {
                "name": report.name,
                "status": report.status,
                **({"message": report.message} if report.message else {}),
                "seconds": round(report.seconds, 2),
                "scores": {
                    score.key: {
                        "label": score.label,
                        "value": _json_number(score.value),
                        **({"references": {k: _json_number(v) for k, v in score.references.items()}} if score.references else {}),
                    }
                    for score in report.scores
                },
            }
            for report in reports
        ],
    }


def format_json(reports: Sequence[ModelReport], judges: Judges | None, samples: int) -> str:
    return json.dumps(to_json(reports, judges, samples), indent=2, allow_nan=False)


def _json_number(value: float | tuple[float, ...]) -> float | list[float | None] | None:
    if isinstance(value, tuple):
        return [_json_number(v) for v in value]
    return None if math.isnan(float(value)) else round(float(value), 6)


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""
