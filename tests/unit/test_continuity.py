"""The continuity cue: a track's exit carried on over the gap, compared with the next track's entry.

Geometry is built here (two cameras looking at one street from different angles, with ground mappings
made through known homographies), so each case isolates one rule; bench/mtmc.py measures the cue on real
footage and tests/integration/test_journeys.py runs it through `watchnet run`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from watchnet.core.config import CameraConfig, LinkingConfig, Settings
from watchnet.core.records import TrackEnd
from watchnet.services.linking.evidence import continuity_error, score_pair
from watchnet.services.linking.topology import Topology, homography
from watchnet.store.journeys import SightingInfo
from watchnet.vision.analysis.track import track_end

T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
LAT0, LON0 = 48.15, 17.10
R = 6_371_000.0

# metres east/north -> pixels, one per camera: a tilted view from the south-west (A), one from the east (B)
TO_PIXELS = {
    "a": np.array([[40.0, -6.0, 300.0], [4.0, -25.0, 700.0], [0.002, -0.012, 1.0]]),
    "b": np.array([[-35.0, 9.0, 1500.0], [-3.0, -30.0, 800.0], [-0.003, -0.01, 1.0]]),
}


def _pixels(camera: str, east: float, north: float) -> tuple[float, float]:
    x, y, w = TO_PIXELS[camera] @ np.array([east, north, 1.0])
    return float(x / w), float(y / w)


def _latlon(east: float, north: float) -> list[float]:
    return [LAT0 + math.degrees(north / R), LON0 + math.degrees(east / (R * math.cos(math.radians(LAT0))))]


def _camera(name: str, spots: list[tuple[float, float]]) -> dict[str, object]:
    ground = [{"image": list(_pixels(name, e, n)), "map": _latlon(e, n)} for e, n in spots]
    return {"name": name, "url": "x", "lat": LAT0, "lon": LON0, "ground": ground}


def _topology(cfg: LinkingConfig) -> Topology:
    a = _camera("a", [(0, 0), (10, 0), (10, 8), (0, 8)])  # A sees x 0..10 m
    b = _camera("b", [(14, 0), (24, 0), (24, 8), (14, 8), (19, 4)])  # B sees x 14..24 m (5 spots)
    return Topology.from_cameras([CameraConfig.model_validate(a), CameraConfig.model_validate(b)], cfg)


def _end(camera: str, east: float, north: float, v_east: float, v_north: float) -> TrackEnd:
    """A person's foot point at (east, north) walking at (v_east, v_north) m/s, seen by ``camera``."""
    x, y = _pixels(camera, east, north)
    x1, y1 = _pixels(camera, east + v_east, north + v_north)
    height = abs(_pixels(camera, east, north)[1] - _pixels(camera, east, north + 1.7)[1]) or 100.0
    return TrackEnd(x, y, x1 - x, y1 - y, height)


def _info(sid: int, camera: str, start: float, end: float, *, entry: TrackEnd | None = None,
          exit: TrackEnd | None = None, look: np.ndarray | None = None) -> SightingInfo:
    vectors = {"appearance": look} if look is not None else {}
    return SightingInfo(sid, camera, "person", T0 + timedelta(seconds=start), T0 + timedelta(seconds=end),
                        entry=entry, exit=exit, vectors=vectors)


def test_homography_maps_the_calibration_spots_and_points_between_them() -> None:
    truth = np.linalg.inv(TO_PIXELS["a"])
    spots = [(0.0, 0.0), (10.0, 0.0), (10.0, 8.0), (0.0, 8.0)]
    h = homography([_pixels("a", *s) for s in spots], spots)
    for point in ((3.0, 2.0), (7.5, 6.0)):
        x, y, w = h @ np.array([*_pixels("a", *point), 1.0])
        assert (x / w, y / w) == pytest.approx(point, abs=1e-6)
    expect = truth / truth[2, 2]
    assert np.allclose(h / h[2, 2], expect, atol=1e-6)


def test_a_walk_is_carried_from_one_camera_into_the_next_ones_picture() -> None:
    cfg = LinkingConfig(continuity_scale=2.0)
    topo = _topology(cfg)
    # leaves A at x = 9.5 m walking east at 1.5 m/s; 4 s later she should be at x = 15.5 m, in B
    leaving = _end("a", 9.5, 4.0, 1.5, 0.0)
    carried = topo.carry("a", leaving, 4.0, "b")
    assert carried is not None
    assert carried == pytest.approx(_pixels("b", 15.5, 4.0), abs=0.5)
    # inside one camera no mapping is needed; between a camera without one and another, no answer
    assert topo.carry("a", leaving, 2.0, "a") == pytest.approx((leaving.x + 2 * leaving.vx, leaving.y + 2 * leaving.vy))
    assert topo.carry("a", leaving, 4.0, "c") is None


def test_the_continuing_walker_scores_above_a_look_alike_who_appears_elsewhere() -> None:
    cfg = LinkingConfig(continuity_scale=2.0, continuity_centre=1.0)
    topo = _topology(cfg)
    look = np.ones(8, np.float32) / math.sqrt(8)
    a = _info(1, "a", 0, 10, exit=_end("a", 9.5, 4.0, 1.5, 0.0), look=look)
    same = _info(2, "b", 14, 20, entry=_end("b", 15.4, 4.1, 1.5, 0.0), look=look)
    other = _info(3, "b", 14, 20, entry=_end("b", 21.0, 1.0, -1.2, 0.3), look=look)
    miss_same = continuity_error(a, same, topo, cfg)
    miss_other = continuity_error(a, other, topo, cfg)
    assert miss_same is not None and miss_other is not None
    assert miss_same < 0.2 < cfg.continuity_centre < miss_other
    ev_same, ev_other = score_pair(a, same, topo, cfg, 0.5), score_pair(a, other, topo, cfg, 0.5)
    assert ev_same.cues["continuity"] > 0 > ev_other.cues["continuity"]
    assert ev_same.score > ev_other.score
    assert ev_same.facts["continuity_error"] == pytest.approx(round(miss_same, 2))


def test_no_continuity_cue_without_ends_past_the_gap_limit_or_when_switched_off() -> None:
    cfg = LinkingConfig(continuity_scale=2.0, continuity_max_gap_s=10.0)
    topo = _topology(cfg)
    a = _info(1, "a", 0, 10, exit=_end("a", 9.5, 4.0, 1.5, 0.0))
    assert continuity_error(a, _info(2, "b", 14, 20), topo, cfg) is None  # no entry stored (older row)
    late = _info(3, "b", 25, 30, entry=_end("b", 15.0, 4.0, 1.5, 0.0))
    assert continuity_error(a, late, topo, cfg) is None  # 15 s: too long to say where she would be
    off = LinkingConfig(continuity_scale=0.0)  # switched off
    assert "continuity" not in score_pair(a, _info(4, "b", 14, 20, entry=_end("b", 15.4, 4.1, 1.5, 0.0)),
                                          _topology(off), off, 0.5).cues


def test_track_end_fits_position_and_speed_over_the_ends_and_copes_with_one_box() -> None:
    # 10 fps, walking right at 30 px/s with 2 px of jitter: the fit recovers the speed and the last position
    rng = np.random.default_rng(3)
    times = [100.0 + k / 10 for k in range(11)]
    points = [(t, 200 + 30 * (t - 100) + rng.normal(0, 2), 300 + rng.normal(0, 2), 120.0) for t in times]
    exit_ = track_end(points, at_start=False)
    entry = track_end(points, at_start=True)
    assert exit_ is not None and entry is not None
    assert exit_.vx == pytest.approx(30, abs=6) and abs(exit_.vy) < 6
    assert exit_.x == pytest.approx(230, abs=3) and entry.x == pytest.approx(200, abs=3)
    assert exit_.height == 120.0
    single = track_end(points[:1], at_start=True)
    assert single is not None and (single.vx, single.vy) == (0.0, 0.0)
    assert track_end([], at_start=True) is None
    assert TrackEnd.from_list(exit_.as_list()) == TrackEnd(*exit_.as_list())
    assert TrackEnd.from_list([1, 2, 3]) is None and TrackEnd.from_list("nope") is None


def test_a_ground_mapping_must_be_pixels_and_distinct_spots() -> None:
    spots = [{"image": [0.1, 0.1], "map": [48.0, 17.0]}, {"image": [0.9, 0.1], "map": [48.0, 17.001]},
             {"image": [0.9, 0.9], "map": [48.001, 17.001]}, {"image": [0.1, 0.9], "map": [48.001, 17.0]}]
    with pytest.raises(ValidationError, match="pixels"):
        Settings.load(cameras=[{"name": "a", "url": "x", "ground": spots}])
    twice = [{"image": [10, 10], "map": [48.0, 17.0]}] * 4
    with pytest.raises(ValidationError, match="distinct"):
        Settings.load(cameras=[{"name": "a", "url": "x", "ground": twice}])
    with pytest.raises(ValidationError):
        Settings.load(cameras=[{"name": "a", "url": "x", "ground": twice[:3]}])
