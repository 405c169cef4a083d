"""One measured number of the evaluation, with what to compare it with (shared by the scorers and the report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Score:
    """One measured number, with what it should be compared with.

    ``kind`` says how to print it: "percent" (a share 0..1), "number", or "shares" (a share per digit).
    ``references`` are the same measurement on something known (real digits, an untrained
    generator, the input returned unchanged), by name.
    """

    key: str
    label: str
    value: float | tuple[float, ...]
    kind: Literal["percent", "number", "shares"] = "percent"
    references: dict[str, float] = field(default_factory=dict)
