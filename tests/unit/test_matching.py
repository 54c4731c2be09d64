"""The per-track decision: threshold, vote over the last faces, one very high face, negatives veto."""

from __future__ import annotations

import numpy as np
import pytest

from watchnet.core.config import Settings
from watchnet.core.matching import MatchPolicy, SubjectScores, TrackVote, counted, template, templates
from watchnet.store.vectors import VectorIndex

POLICY = MatchPolicy(threshold=0.9, single_face_score=0.95, vote_window=4, vote_min=2)


def scores(ref: dict[int, float], neg: dict[int, float] | None = None) -> SubjectScores:
    ids = np.array(sorted(ref), np.int64)
    negative = np.array([(neg or {}).get(int(i), -1.0) for i in ids], np.float32)
    return SubjectScores(ids, np.array([ref[int(i)] for i in ids], np.float32), negative)


def test_policy_comes_from_settings() -> None:
    settings = Settings.load(faces={"embedder": "dlib-resnet"}, watchlist={"vote_window": 7, "vote_min": 3})
    policy = MatchPolicy.from_settings(settings)
    assert policy.threshold == settings.faces.match_threshold
    assert (policy.vote_window, policy.vote_min) == (7, 3)
    with pytest.raises(ValueError, match="vote_min"):
        MatchPolicy(0.9, 0.95, vote_window=2, vote_min=3)


def test_one_face_above_threshold_is_not_enough() -> None:
    vote = TrackVote(POLICY)
    assert vote.add(scores({1: 0.92})) == []
    assert vote.add(scores({1: 0.5})) == []


def test_two_faces_within_the_window_decide_once() -> None:
    vote = TrackVote(POLICY)
    assert vote.add(scores({1: 0.92, 2: 0.3})) == []
    assert vote.add(scores({1: 0.1})) == []
    decided = vote.add(scores({1: 0.93}))
    assert [(d.subject_id, d.votes, d.single) for d in decided] == [(1, 2, False)]
    assert decided[0].score == pytest.approx(0.93)
    assert vote.add(scores({1: 0.99})) == []  # one alert per (track, subject)


def test_votes_older_than_the_window_do_not_count() -> None:
    vote = TrackVote(POLICY)
    vote.add(scores({1: 0.92}))
    for _ in range(POLICY.vote_window):
        assert vote.add(scores({1: 0.2})) == []
    assert vote.add(scores({1: 0.92})) == []  # the first vote has left the window


def test_one_very_high_face_is_enough() -> None:
    decided = TrackVote(POLICY).add(scores({3: 0.96, 4: 0.91}))
    assert [(d.subject_id, d.single) for d in decided] == [(3, True)]


def test_a_closer_negative_vetoes_the_face() -> None:
    face = scores({1: 0.97}, neg={1: 0.98})
    assert not counted(face, POLICY)[0]
    vote = TrackVote(POLICY)
    assert vote.add(face) == [] and vote.add(face) == []
    assert counted(scores({1: 0.97}, neg={1: 0.9}), POLICY)[0]  # the subject is closer: still counts


def test_two_subjects_can_each_be_decided_on_one_track() -> None:
    vote = TrackVote(POLICY)
    vote.add(scores({1: 0.91, 2: 0.92}))
    decided = vote.add(scores({1: 0.93, 2: 0.91}))
    assert [d.subject_id for d in decided] == [1, 2]  # best score first


def test_vector_index_gives_the_best_cosine_per_owner() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 16)).astype(np.float32)
    index = VectorIndex()
    index.replace([7, 3, 7, 3, 9, 7], vectors)
    owners, best = index.max_per_owner(vectors[[0, 4]])
    assert owners.tolist() == [3, 7, 9]
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = np.array([[max(unit[q] @ unit[r] for r in rows) for rows in ([1, 3], [0, 2, 5], [4])]
                         for q in (0, 4)])
    assert np.allclose(best, expected, atol=1e-6)
    assert index.search(vectors[4], k=1) == [(9, pytest.approx(1.0, abs=1e-6))]
    index.remove(7)
    assert index.owners.tolist() == [3, 9] and len(index) == 3
    index.add(5, vectors[:1])
    assert index.search(vectors[0], k=1)[0][0] == 5
    empty_owners, empty = VectorIndex(16).max_per_owner(vectors[:2])
    assert empty_owners.size == 0 and empty.shape == (2, 0)


def test_template_is_the_quality_weighted_mean_direction() -> None:
    a, b = np.array([1.0, 0.0]), np.array([0.0, 3.0])  # lengths do not matter, only directions
    np.testing.assert_allclose(template(np.stack([a, b])), [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-6)
    weighted = template(np.stack([a, b]), np.array([3.0, 1.0]))
    np.testing.assert_allclose(weighted, np.array([3.0, 1.0]) / np.sqrt(10), atol=1e-6)
    ids, rows = templates(np.array([5, 2, 5]), np.array([[1.0, 0], [0, 1.0], [0, 1.0]]), np.ones(3))
    assert ids.tolist() == [2, 5]
    np.testing.assert_allclose(rows, [[0, 1], [np.sqrt(0.5), np.sqrt(0.5)]], atol=1e-6)


def test_a_track_template_decides_only_once_it_holds_enough_faces() -> None:
    policy = MatchPolicy(threshold=0.9, single_face_score=0.95, vote_window=4, vote_min=2, template_min_faces=3)
    vote = TrackVote(policy)
    for k in range(3):
        assert vote.add(scores({1: 0.85})) == []  # no single face counts
        ready = vote.extend_template(np.array([1.0, 0.1 * k]), quality=0.8)
        assert (ready is None) == (k < 2)
        if ready is not None:
            assert vote.add_template(scores({1: 0.86})) == []  # below threshold: nothing
    assert [d.subject_id for d in vote.add_template(scores({1: 0.91}))] == [1]
    assert vote.add_template(scores({1: 0.99})) == []  # one decision per (track, subject)
    strict = TrackVote(MatchPolicy(0.9, 0.95, 4, 2, template_min_faces=1, template_margin=0.05))
    strict.extend_template(np.ones(2), 1.0)
    assert strict.add_template(scores({1: 0.93})) == [] and len(strict.add_template(scores({1: 0.96}))) == 1
    off = TrackVote(MatchPolicy(0.9, 0.95, 4, 2, template_min_faces=0))
    assert off.extend_template(np.ones(2), 1.0) is None and off.add_template(scores({1: 0.99})) == []
