"""Camera topology: where cameras stand, which lead to which and how long the trip takes.

Declared in the config (``CameraConfig.neighbours`` with transit windows, ``overlaps``, lat/lon) and
learned from confirmed links (``transit_bins``: per camera pair a histogram of transit times). Once a
pair has ``linking.learn_min_links`` confirmed trips its histogram replaces the declared window: the
transit cue then says how much likelier this gap is for the same person than a uniform guess.

An optional ground mapping per camera (4+ spots in pixels and as lat/lon, ``CameraConfig.ground``)
gives each camera a homography onto the map, so a person's walk can be carried from one camera's
picture into the next one's (``carry``), as calibrated multi-camera trackers do; without it the
continuity cue still works inside one camera.

Why "no neighbours declared" means "every camera": a site that has not described its topology still
gets links (space-time feasibility and appearance decide), and the first confirmed links teach it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from watchnet.core.config import CameraConfig, LinkingConfig
from watchnet.core.records import TrackEnd

EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True, slots=True)
class Window:
    """A declared transit window from one camera to another, in seconds."""

    min_s: float
    max_s: float


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between two (lat, lon) points."""
    la1, lo1, la2, lo2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(slots=True)
class Topology:
    """The camera graph the linker scores against; cheap to rebuild when links are confirmed."""

    cfg: LinkingConfig
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)
    windows: dict[tuple[str, str], Window] = field(default_factory=dict)
    overlap: set[frozenset[str]] = field(default_factory=set)
    learned: dict[tuple[str, str], dict[int, int]] = field(default_factory=dict)
    zones: dict[tuple[str, str], tuple[list[tuple[float, float]] | None, list[tuple[float, float]] | None]] = field(
        default_factory=dict)
    #: per camera with a ground mapping: the homography from its pixels to metres east/north of ``origin``
    ground: dict[str, np.ndarray] = field(default_factory=dict)
    origin: tuple[float, float] | None = None

    @classmethod
    def from_cameras(cls, cameras: list[CameraConfig], cfg: LinkingConfig,
                     learned: dict[tuple[str, str], dict[int, int]] | None = None) -> Topology:
        topo = cls(cfg, learned=dict(learned or {}))
        for cam in cameras:
            if cam.lat is not None and cam.lon is not None:
                topo.positions[cam.name] = (cam.lat, cam.lon)
            for link in cam.neighbours:
                topo.windows[(cam.name, link.to)] = Window(link.min_s, link.max_s)
                if link.exit_zone or link.entry_zone:
                    topo.zones[(cam.name, link.to)] = (link.exit_zone, link.entry_zone)
            for other in cam.overlaps:
                topo.overlap.add(frozenset((cam.name, other)))
        mapped = [c for c in cameras if c.ground]
        if mapped:
            spots = [p.map for c in mapped for p in c.ground or []]
            topo.origin = (sum(p[0] for p in spots) / len(spots), sum(p[1] for p in spots) / len(spots))
            for cam in mapped:
                image = [p.image for p in cam.ground or []]
                metres = [_east_north(p.map, topo.origin) for p in cam.ground or []]
                topo.ground[cam.name] = homography(image, metres)
        return topo

    def to_map(self, camera: str, point: tuple[float, float]) -> tuple[float, float] | None:
        """A ground point in ``camera``'s pixels as (lat, lon), through its ground mapping (None without one)."""
        h = self.ground.get(camera)
        metres = None if h is None else _apply(h, point)
        if metres is None or self.origin is None:
            return None
        lat = self.origin[0] + math.degrees(metres[1] / EARTH_RADIUS_M)
        lon = self.origin[1] + math.degrees(metres[0] / (EARTH_RADIUS_M * math.cos(math.radians(self.origin[0]))))
        return lat, lon

    def carry(self, a: str, end: TrackEnd, gap_s: float, b: str) -> tuple[float, float] | None:
        """Where in camera ``b``'s picture someone who left camera ``a`` at ``end`` should be ``gap_s`` later,
        walking on at the same speed: in one picture directly, across cameras through their ground
        mappings (None when either camera has none, or the point falls off the ground plane)."""
        if a == b:
            return end.x + end.vx * gap_s, end.y + end.vy * gap_s
        ha, hb = self.ground.get(a), self.ground.get(b)
        if ha is None or hb is None:
            return None
        here = _apply(ha, (end.x, end.y))
        ahead = _apply(ha, (end.x + end.vx, end.y + end.vy))  # one second on, in metres
        if here is None or ahead is None:
            return None
        walked = (here[0] + (ahead[0] - here[0]) * gap_s, here[1] + (ahead[1] - here[1]) * gap_s)
        return _apply(np.linalg.inv(hb), walked)

    @property
    def declared(self) -> bool:
        """True when any neighbours are declared (then only neighbours are linked)."""
        return bool(self.windows)

    def sources(self, camera: str) -> list[str] | None:
        """Cameras a track seen on ``camera`` may have come from (itself included); None: any camera."""
        if not self.declared:
            return None
        found = {src for (src, dst) in self.windows if dst == camera}
        found |= {src for (src, dst) in self.learned if dst == camera}
        found |= {next(iter(pair - {camera})) for pair in self.overlap if camera in pair}
        return sorted(found | {camera})

    def overlaps(self, a: str, b: str) -> bool:
        """Whether one object may be seen by both cameras at the same moment."""
        return a != b and frozenset((a, b)) in self.overlap

    def distance(self, a: str, b: str) -> float | None:
        """Metres between two cameras, None when either has no position."""
        if a == b:
            return 0.0
        pa, pb = self.positions.get(a), self.positions.get(b)
        return None if pa is None or pb is None else distance_m(pa, pb)

    def learned_count(self, a: str, b: str) -> int:
        return sum(self.learned.get((a, b), {}).values())

    def transit_llr(self, a: str, b: str, gap_s: float) -> tuple[float, str]:
        """Log-likelihood ratio of a ``gap_s`` trip from ``a`` to ``b``, and which model gave it.

        Learned: log of the histogram's density at the gap (add-one smoothed) over a uniform density on
        the linking window. Declared: a fixed bonus inside the window, a penalty outside. Else 0.
        """
        cfg = self.cfg
        hist = self.learned.get((a, b))
        if hist and sum(hist.values()) >= cfg.learn_min_links:
            width = cfg.histogram_bin_s
            nbins = max(1, math.ceil(cfg.window_s / width))
            total = sum(hist.values()) + nbins
            density = (hist.get(int(max(gap_s, 0.0) // width), 0) + 1) / total / width
            uniform = 1.0 / cfg.window_s
            return max(-cfg.cue_cap, min(cfg.cue_cap, math.log(density / uniform))), "learned"
        window = self.windows.get((a, b))
        if window is not None:
            inside = window.min_s <= gap_s <= window.max_s
            return (cfg.transit_inside if inside else cfg.transit_outside), "declared"
        return 0.0, "none"

    def predict_next(self, camera: str) -> list[dict[str, object]]:
        """Cameras likely to be reached next from ``camera``: declared windows and learned counts."""
        out: dict[str, dict[str, object]] = {}
        for (src, dst), w in self.windows.items():
            if src == camera and dst != camera:
                out[dst] = {"camera": dst, "min_s": w.min_s, "max_s": w.max_s, "trips": 0}
        for (src, dst), hist in self.learned.items():
            if src == camera and dst != camera and hist:
                width = self.cfg.histogram_bin_s
                trips = sum(hist.values())
                mean = sum((b + 0.5) * width * c for b, c in hist.items()) / trips
                entry = out.setdefault(dst, {"camera": dst, "min_s": min(hist) * width,
                                             "max_s": (max(hist) + 1) * width})
                entry.update(trips=trips, typical_s=round(mean, 1))
        return sorted(out.values(), key=lambda e: -int(str(e.get("trips", 0))))


def _east_north(point: tuple[float, float], origin: tuple[float, float]) -> tuple[float, float]:
    """(lat, lon) as metres east and north of ``origin`` (flat earth: a site is a few km at most)."""
    north = math.radians(point[0] - origin[0]) * EARTH_RADIUS_M
    east = math.radians(point[1] - origin[1]) * EARTH_RADIUS_M * math.cos(math.radians(origin[0]))
    return east, north


def homography(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> np.ndarray:
    """The 3x3 projective map taking ``src`` points to ``dst`` (least squares for more than four; DLT with
    Hartley normalisation, so pixel and metre scales do not upset the solve)."""

    def normaliser(points: np.ndarray) -> np.ndarray:
        centre = points.mean(axis=0)
        spread = float(np.sqrt(((points - centre) ** 2).sum(axis=1)).mean()) or 1.0
        k = math.sqrt(2) / spread
        return np.array([[k, 0, -k * centre[0]], [0, k, -k * centre[1]], [0, 0, 1]])

    p, q = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    tp, tq = normaliser(p), normaliser(q)
    ph = (tp @ np.column_stack([p, np.ones(len(p))]).T).T
    qh = (tq @ np.column_stack([q, np.ones(len(q))]).T).T
    rows = []
    for (x, y, _), (u, v, _) in zip(ph, qh, strict=True):
        rows.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
        rows.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
    h = np.linalg.svd(np.asarray(rows))[2][-1].reshape(3, 3)
    out = np.linalg.inv(tq) @ h @ tp
    out = out / out[2, 2]
    if (out @ np.array([*p.mean(axis=0), 1.0]))[2] < 0:  # sign fixed so points on the ground have w > 0
        out = -out
    return np.asarray(out)


def _apply(h: np.ndarray, point: tuple[float, float]) -> tuple[float, float] | None:
    """``h`` applied to a point; None beyond the horizon (w <= 0: not on the ground in front of the camera)."""
    x, y, w = h @ np.array([point[0], point[1], 1.0])
    if w <= 1e-12:
        return None
    return float(x / w), float(y / w)


def inside(point: tuple[float, float], polygon: list[tuple[float, float]]) -> bool:
    """Whether a point lies in a polygon (even-odd ray casting)."""
    x, y = point
    hit = False
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            hit = not hit
    return hit
