"""Plate text as pure policy: cleaning a read, folding confusable characters, edit distance, hot-list match.

Lives in ``core`` because the store indexes plates by their folded text and the analysis reads them: both
must fold the same way, and neither may import the other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from watchnet.core.config import PlatesConfig

PLATE_CHARS = re.compile(r"[A-Z0-9\u4e00-\u9fff]")


def clean_plate_text(raw: str) -> str:
    """Uppercase and keep only Latin letters, digits and CJK characters (drops spaces, dashes, dots, seals).

    No Unicode folding on purpose: the recogniser writes an emblem between groups as e.g. a subscript
    digit, which NFKC would turn into a real one.
    """
    return "".join(PLATE_CHARS.findall(raw.upper()))


def fold_confusables(text: str, confusables: Mapping[str, str] | None = None) -> str:
    """Clean a plate and map every confusable letter to its digit, so O/0, I/1, B/8 ... compare equal."""
    table = confusables if confusables is not None else PlatesConfig().confusables
    return "".join(table.get(ch, ch) for ch in clean_plate_text(text))


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def match_hotlist(
    text: str,
    hotlist: Sequence[str],
    max_distance: int = 1,
    confusables: Mapping[str, str] | None = None,
) -> tuple[str, int] | None:
    """The hotlist entry closest to a read plate, with its edit distance, if within ``max_distance``.

    Both sides are cleaned and confusables folded first, so "RK-O99 AN" matches "RK099AN" at distance 0
    and one misread character costs 1. Ties go to the earlier entry. Pure function: alerting is elsewhere.
    """
    probe = fold_confusables(text, confusables)
    if not probe:
        return None
    best: tuple[str, int] | None = None
    for entry in hotlist:
        folded = fold_confusables(entry, confusables)
        if not folded or abs(len(folded) - len(probe)) > max_distance:
            continue
        distance = edit_distance(probe, folded)
        if distance <= max_distance and (best is None or distance < best[1]):
            best = (entry, distance)
    return best
