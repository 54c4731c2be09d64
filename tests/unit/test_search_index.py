"""The pure parts of search: fuzzy plate matching, top-K, time parsing, the appearance vector."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from watchnet.cli.search import parse_time
from watchnet.core.errors import InputError
from watchnet.core.plate_text import edit_distance
from watchnet.services.search import _top
from watchnet.store.sightings import PlateIndex, plate_key, vector_bytes, vector_from_bytes
from watchnet.vision.analysis.describe import APPEARANCE_DIM, appearance_embedding
from watchnet.vision.analysis.faces import load_image


def _index(plates: list[str]) -> PlateIndex:
    index = PlateIndex()
    rows = np.zeros((len(plates), PlateIndex.WIDTH + 1), np.uint32)
    for i, text in enumerate(plates):
        rows[i, : len(text)] = [ord(c) for c in text]
        rows[i, -1] = len(text)
    index._append(np.arange(1, len(plates) + 1, dtype=np.int64), rows)
    return index


def test_vectorised_fuzzy_plate_match_agrees_with_levenshtein() -> None:
    rng = np.random.default_rng(3)
    alphabet = np.array(list("AB0DE1"))
    plates = ["".join(rng.choice(alphabet, size=rng.integers(3, 9))) for _ in range(2000)]
    index = _index(plates)
    for query in ("AB01DE", "0000", "EDBA10A", "A"):
        for k in (0, 1, 2):
            ids, dist = index.within(query, k)
            expected = {i + 1: edit_distance(query, p) for i, p in enumerate(plates) if edit_distance(query, p) <= k}
            assert dict(zip(ids.tolist(), dist.tolist(), strict=True)) == expected


def test_plate_key_folds_confusables_and_separators() -> None:
    assert plate_key("rk-O99 an") == plate_key("RK099AN") == "RK099AN"
    assert plate_key("B8 ZZ") == "88 22".replace(" ", "")
    assert plate_key(" - ") is None and plate_key(None) is None


def test_top_k_is_best_first_and_respects_min_score() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3], np.float32)
    assert _top(scores, 3, None).tolist() == [1, 3, 2]
    assert _top(scores, 10, 0.6).tolist() == [1, 3]
    assert _top(np.empty(0, np.float32), 3, None).size == 0


def test_vectors_round_trip_as_float32_bytes() -> None:
    v = np.linspace(-1, 1, 128, dtype=np.float32)
    data = vector_bytes(v)
    assert len(data) == 512 and np.array_equal(vector_from_bytes(data), v)


def test_parse_time_accepts_iso_and_durations_ago() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_time("6h", now) == now - timedelta(hours=6)
    assert parse_time("7d", now) == now - timedelta(days=7)
    assert parse_time("2026-11-20T10:00:00+00:00") == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert parse_time(None) is None
    with pytest.raises(InputError, match="ISO 8601"):
        parse_time("yesterday")


def test_appearance_vector_is_unit_and_scale_invariant(shared_data: Path) -> None:
    """A Market-1501 crop of person 0001 and the same crop at another size give nearly the same vector
    (cameras see people at many sizes); retrieval quality is measured in bench/search.py ("reid")."""
    query = shared_data / "reid" / "prw_market_person_search" / "query"
    a, b = (load_image(p) for p in sorted(query.glob("*.jpg")))
    va, vb = appearance_embedding(a), appearance_embedding(b)
    assert va.shape == (APPEARANCE_DIM,) and abs(float(np.linalg.norm(va)) - 1) < 1e-5
    bigger = appearance_embedding(cv2.resize(a, None, fx=2.5, fy=2.5, interpolation=cv2.INTER_CUBIC))
    assert float(va @ bigger) > 0.95
    assert 0.0 < float(va @ vb) < float(va @ bigger)
    with pytest.raises(ValueError, match="crop"):
        appearance_embedding(np.zeros((2, 2, 3), np.uint8))
