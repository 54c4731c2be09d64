"""Face geometry and scoring helpers: alignment transform, pose score, cosine, config validation."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from watchnet.core.config import FacesConfig
from watchnet.vision.analysis.faces import pose_score, similarity
from watchnet.vision.models.blazeface import ANCHORS, five_points
from watchnet.vision.models.face_embedders import ARCFACE_112, DLIB_TEMPLATE, l2_normalise, similarity_transform


def test_similarity_transform_recovers_a_known_rotation_scale_and_shift() -> None:
    angle, scale, shift = np.deg2rad(17.0), 2.5, np.array([31.0, -4.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = ARCFACE_112.astype(np.float64) @ rot.T + shift
    m = similarity_transform(ARCFACE_112, dst)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-7)


def test_pose_score_is_high_for_a_frontal_template_and_zero_in_profile() -> None:
    assert pose_score(DLIB_TEMPLATE, max_yaw=1.0) > 0.95
    assert pose_score(ARCFACE_112, max_yaw=1.0) > 0.7  # its nose point sits a little higher
    profile = DLIB_TEMPLATE.copy()
    profile[2] = profile[1]  # nose on the left eye: turned fully away
    assert pose_score(profile, max_yaw=1.0) == 0.0
    collapsed = DLIB_TEMPLATE.copy()
    collapsed[1] = collapsed[0]  # both eyes on one point: no usable geometry
    assert pose_score(collapsed, max_yaw=1.0) == 0.0


def test_cosine_similarity_and_normalisation() -> None:
    a, b = np.array([3.0, 4.0]), np.array([-4.0, 3.0])
    assert similarity(a, a * 7) == pytest.approx(1.0)
    assert similarity(a, b) == pytest.approx(0.0)
    assert similarity(a, np.zeros(2)) == 0.0
    rows = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 0.0]])


def test_blazeface_anchor_layout_and_synthetic_mouth_corners() -> None:
    assert ANCHORS.shape == (896, 2)
    assert ANCHORS.min() > 0 and ANCHORS.max() < 1
    six = np.array([[[40, 50], [80, 50], [60, 70], [60, 90], [20, 60], [100, 60]]], np.float32)
    five = five_points(six)
    assert five.shape == (1, 5, 2)
    np.testing.assert_allclose(five[0, 3:].mean(0), [60, 90])  # corners centred on the mouth
    assert five[0, 3, 0] < 60 < five[0, 4, 0]


def test_faces_config_rejects_an_embedder_without_a_threshold() -> None:
    with pytest.raises(ValidationError):
        FacesConfig(embedder="faceres", match_thresholds={"dlib-resnet": 0.9})
    with pytest.raises(ValidationError):
        FacesConfig(min_face_px=100, good_face_px=50)
    assert FacesConfig().match_threshold == FacesConfig().match_thresholds[FacesConfig().embedder]
    assert FacesConfig().embedder == "fused"  # the default since bench/faces.py measured it (issue 11)
