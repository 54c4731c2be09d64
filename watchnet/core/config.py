"""All of watchnet's configuration in one pydantic-settings model.

Values come, highest priority first, from: keyword arguments, ``WATCHNET_*`` environment variables
(nested with ``__``, e.g. ``WATCHNET_DETECTOR__STRIDE=3``), the YAML config file, then the defaults
below. Nothing else in the package reads the environment or hard-codes a tunable number.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
import yaml
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from watchnet.core.records import CLASSES

Point = tuple[float, float]
Fraction = Annotated[float, Field(ge=0, le=1)]
RelativePolygon = Annotated[list[tuple[Fraction, Fraction]], Field(min_length=3, max_length=256)]


def frame_points(points: Sequence[Point], width: int, height: int) -> list[Point]:
    """Shapes drawn in the console are frame-relative (every coordinate within 0..1, so they survive a change of
    resolution and the scaled-down live picture they are drawn on); the YAML may also give pixels. This turns
    either into pixels of a ``width`` x ``height`` frame."""
    if all(0 <= x <= 1 and 0 <= y <= 1 for x, y in points):
        return [(x * width, y * height) for x, y in points]
    return [(float(x), float(y)) for x, y in points]


class ZoneRule(BaseModel):
    """A polygon in pixels or frame-relative (0..1); tracks whose bottom-centre enters or leaves it raise events."""

    name: str
    polygon: list[Point] = Field(min_length=3)
    classes: list[str] = Field(default_factory=lambda: ["person"])


class LineRule(BaseModel):
    """A directed line segment in pixels or frame-relative (0..1); tracks crossing it raise events (in / out)."""

    name: str
    start: Point
    end: Point
    classes: list[str] = Field(default_factory=lambda: ["person"])


class CameraLink(BaseModel):
    """A camera that people or vehicles seen here may reach next, and how long the trip takes."""

    to: str = Field(min_length=1, max_length=64, description="Name of the camera that may be reached next")
    min_s: float = Field(default=0.0, ge=0, description="Shortest transit time (leaving here to appearing there)")
    max_s: float = Field(default=60.0, gt=0, description="Longest transit time the linker still considers")
    exit_zone: list[Point] | None = Field(
        default=None, min_length=3, description="Polygon (pixels, this camera) where tracks leave towards `to`")
    entry_zone: list[Point] | None = Field(
        default=None, min_length=3, description="Polygon (pixels, camera `to`) where they appear there")


class GroundPoint(BaseModel):
    """One point of a camera's ground mapping: a spot on the ground in the picture and the same spot on the map."""

    image: Point = Field(description="Pixel (x, y) in this camera's frame, on the ground (e.g. a kerb corner)")
    map: tuple[Annotated[float, Field(ge=-90, le=90)], Annotated[float, Field(ge=-180, le=180)]] = Field(
        description="The same spot as (lat, lon)")


class CameraSettings(BaseModel):
    """The per-camera settings an operator changes: in the YAML under the camera, or in the console, which stores
    them with the camera's row (the stored ones win). One model, so the API and the YAML accept the same things."""

    fps_cap: float | None = Field(default=None, gt=0, description="Process at most this many frames/s")
    zones: list[ZoneRule] = Field(default_factory=list, max_length=64)
    lines: list[LineRule] = Field(default_factory=list, max_length=64)
    privacy_masks: list[RelativePolygon] = Field(
        default_factory=list, max_length=64, description="Polygons (frame-relative, 0..1) blacked out before "
        "anything looks at the frame: nothing in them is detected, stored, shown live, snapshotted or exported")
    heading: float | None = Field(default=None, ge=0, lt=360, description="Viewing direction, degrees from north")
    fov: float | None = Field(default=None, gt=0, le=360, description="Horizontal field of view, degrees")
    detect_mode: Literal["auto", "whole", "tiles", "motion", "focus"] | None = Field(
        default=None, description="Where the detector looks (see DetectorConfig.mode); None: the global mode"
    )
    roi: list[Point] | None = Field(
        default=None, min_length=3, description="Polygon (pixels or frame-relative) searched for objects; boxes "
        "whose foot is outside are dropped"
    )
    min_object_px: int | None = Field(
        default=None, ge=0, description="Boxes shorter than this many pixels are dropped; None: the global value"
    )
    plate_countries: list[str] | None = Field(
        default=None, description="Plate formats tried at this camera, in order (codes of plates.formats); "
        "None: plates.countries"
    )


class CameraConfig(CameraSettings):
    """One camera: a name, where its pictures come from, where it stands, and its rules (``CameraSettings``)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    url: str = Field(description="Video file, folder of images, rtsp://, http(s)://, or webcam index/device")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    live: bool | None = Field(default=None, description="Force live (drop stale frames) or file pacing")
    neighbours: list[CameraLink] = Field(
        default_factory=list, description="Cameras reachable from here with transit windows (journey linking)"
    )
    overlaps: list[str] = Field(
        default_factory=list, description="Cameras whose views overlap this one (one object may be in both at once)"
    )
    ground: list[GroundPoint] | None = Field(
        default=None, min_length=4, max_length=64,
        description="Optional ground mapping: 4 or more spots on the ground, in pixels of this camera and as "
        "(lat, lon). With it the linker carries a person's walk from one camera into the next one's picture "
        "(the continuity cue); without it that cue works inside one camera only")

    @model_validator(mode="after")
    def _ground_in_pixels(self) -> CameraConfig:
        points = [p.image for p in self.ground or []]
        if points and all(0 <= x <= 1 and 0 <= y <= 1 for x, y in points):
            raise ValueError(f"camera {self.name}: ground image points are pixels of the frame, not 0..1 fractions")
        if len(set(points)) < len(points) or len({p.map for p in self.ground or []}) < len(points):
            raise ValueError(f"camera {self.name}: ground points must be distinct spots")
        return self


class DetectorConfig(BaseModel):
    """Which detector runs, how big its input is, and how often it runs."""

    model: str = "nanodet"
    input_size: int = Field(default=416, ge=128, le=1280)
    thresholds: dict[str, float] = Field(
        default_factory=lambda: {
            "person": 0.35, "bicycle": 0.35, "car": 0.35, "motorcycle": 0.35, "bus": 0.4, "truck": 0.4,
        }
    )
    low_threshold: float = Field(
        default=0.25, ge=0, le=1, description="Weakest box passed on (ByteTrack's second association)"
    )
    nms_iou: float = Field(default=0.6, gt=0, lt=1)
    stride: int = Field(default=2, ge=1, le=30, description="Run the detector every N-th processed frame")
    motion_gate: bool = Field(default=True, description="Skip the detector on frames without motion")
    motion_threshold: float = Field(
        default=0.002, ge=0, le=1, description="Fraction of changed pixels that counts as motion"
    )
    mode: Literal["auto", "whole", "tiles", "motion", "focus"] = Field(
        default="auto",
        description="whole: one pass on the whole frame; tiles: overlapping tiles plus the whole frame; motion: "
        "crops around moving areas zoomed to the model input; focus: the whole frame, then a half-size window "
        "where it and the last frame saw the most small objects, each at an input shaped like it; auto: whole "
        "up to auto_max_height, else auto_high_mode (measured by bench/highres.py)",
    )
    auto_max_height: int = Field(default=720, ge=64, description="auto: frames this tall or less: whole frame")
    auto_high_mode: Literal["whole", "tiles", "motion", "focus"] = Field(
        default="focus", description="auto above that (focus: 2 calls, people recall 0.64 vs tiles 0.56 on 1080p)")
    tile_side: int = Field(
        default=0, ge=0, description="Tile side in frame pixels; 0: the frame height (2 tiles across a 16:9 frame)"
    )
    tile_overlap: float = Field(default=0.15, ge=0, lt=0.5, description="Share of a tile overlapping its neighbour")
    tiles_whole_pass: bool | None = Field(
        default=None, description="tiles: also one whole-frame pass for big objects; None: only when tiles are "
        "shorter than the frame (a tile as tall as the frame already holds any object whole)",
    )
    region_min_side: int = Field(default=0, ge=0, description="Least motion-region side in pixels; 0: model input")
    region_max: int = Field(default=2, ge=1, le=16, description="Most motion regions per frame (cost bound)")
    region_pad: float = Field(default=0.25, ge=0, le=2, description="Motion box growth on each side before squaring")
    min_object_px: int = Field(default=0, ge=0, description="Boxes shorter than this many pixels are dropped")
    merge_iou: float = Field(default=0.5, gt=0, lt=1, description="IoU at which boxes of two crops are one object")

    @field_validator("thresholds")
    @classmethod
    def _known_classes(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(CLASSES)
        if unknown:
            raise ValueError(f"unknown classes {sorted(unknown)}; known: {list(CLASSES)}")
        return value


class TrackerConfig(BaseModel):
    """ByteTrack settings (the Roboflow `trackers` implementation)."""

    activation_threshold: float = Field(default=0.4, description="Score a new track needs to start")
    high_conf_threshold: float = Field(default=0.5, description="ByteTrack's first-stage score split")
    minimum_iou: float = Field(default=0.1, description="Least IoU to associate a box to a track")
    lost_track_buffer: int = Field(default=30, ge=1, description="Lost tracks live this many 30 fps frames")
    min_consecutive_frames: int = Field(default=2, ge=1)
    path_every: int = Field(default=5, ge=1, description="Keep every N-th box in a track's stored path")


class SceneConfig(BaseModel):
    """When a camera's view changes under its tracks: cuts, camera moves, frozen and blank pictures.

    Measured on 64 px wide grey thumbnails (``watchnet.vision.analysis.scene``). On the shared videos the three
    cuts of the Hamilton clip change the mean grey level by 28-30 (of 255) and the HSV histogram by 0.37-0.60
    (half the L1 distance), while within shots the largest values are 13.6 and 0.16; PETS and UA-DETRAC
    (fixed cameras) stay under 3.4 and 0.14.
    """

    enabled: bool = Field(default=True, description="End every track when the view changes (cut, move, freeze)")
    cut_diff: float = Field(default=20.0, ge=0, le=255, description="Mean grey change (0-255) a cut needs")
    cut_hist: float = Field(default=0.15, ge=0, le=1, description="Histogram change (0-1) a cut needs as well")
    move_fraction: float = Field(
        default=0.25, gt=0, le=1, description="Global shift (fraction of the width) within move_window_s: camera moved"
    )
    move_window_s: float = Field(default=1.0, gt=0, description="Time over which camera motion is summed")
    move_confidence: float = Field(default=0.3, ge=0, le=1, description="Least phase-correlation peak that counts")
    frozen_s: float = Field(default=10.0, gt=0, description="Identical frames this long: the picture is frozen")
    frozen_delta: float = Field(default=1.0, ge=0, description="Largest grey change that still counts as identical")
    blank_std: float = Field(default=3.0, ge=0, description="Grey spread below which a frame is blank (no signal)")


class RuntimeConfig(BaseModel):
    """ONNX Runtime settings."""

    providers: list[str] | None = Field(default=None, description="None: best available (CUDA, then CPU)")
    intra_op_threads: int = Field(default=0, ge=0, description="0: let ONNX Runtime decide")
    batch_size: int = Field(default=16, ge=1, description="Largest batch of crops per model call")


class StreamConfig(BaseModel):
    """How live sources reconnect, how long a camera may take to stop, and how demo files loop."""

    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    max_reconnects: int | None = Field(default=None, description="None: retry for ever")
    stop_wait_s: float = Field(
        default=4.0, gt=0, description="On stop (Ctrl-C), longest wait for the cameras to close and store their tracks"
    )
    loop_pause_s: float = Field(default=1.0, ge=0, description="Pause before a looped video file plays again")


class StoreConfig(BaseModel):
    """How the database is shared by the cameras' writer, the API and other processes.

    SQLite has one writer at a time: a writer waits ``busy_timeout_s`` for its turn (then the API
    answers 503 with ``retry_after_s``, never 500). The pool bounds connections per process; a request
    that waits ``pool_timeout_s`` for one is also answered 503.
    """

    busy_timeout_s: float = Field(default=30.0, gt=0, description="How long a writer waits for the write lock")
    pool_size: int = Field(default=16, ge=1, description="Connections kept open per process")
    max_overflow: int = Field(default=32, ge=0, description="Extra connections opened under load")
    pool_timeout_s: float = Field(default=30.0, gt=0, description="Longest wait for a free connection")
    retry_after_s: int = Field(default=2, ge=1, description="Retry-After of a 503 answered when the store is busy")


class AttributesConfig(BaseModel):
    """What is described about people and vehicles, and from which part of their box.

    Row fractions are of the box height from its top; insets are fractions of the box width cut from
    each side. The palette must hold the eleven basic colours; beige is optional (without it, beige
    folds into white or brown). Chosen on the colour bench's dev crops (bench/colours.py).
    """

    enabled: bool = Field(default=True, description="Describe clothing and vehicle colours at all")
    person_colours: bool = True
    vehicle_colours: bool = True
    palette: list[str] = Field(
        default_factory=lambda: [
            "black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
            "beige",
        ]
    )
    upper_rows: tuple[float, float] = Field(default=(0.2, 0.5), description="Torso rows of a person box")
    lower_rows: tuple[float, float] = Field(default=(0.55, 0.9), description="Leg rows of a person box")
    person_inset: float = Field(default=0.25, ge=0, lt=0.5, description="Width cut from each side")
    vehicle_rows: tuple[float, float] = Field(default=(0.15, 0.9), description="Body rows of a vehicle box")
    vehicle_inset: float = Field(default=0.1, ge=0, lt=0.5)
    vehicle_paint_share: float = Field(
        default=0.15, gt=0, le=1, description="A chromatic colour on this share of a car body is its paint"
    )
    vehicle_background_mask: bool = Field(default=False, description="Background mask on vehicles too")
    keypoint_min_score: float = Field(default=0.3, ge=0, le=1)
    frame_levels: bool = Field(default=True, description="Discount the frame's under-exposure")
    skin_mask: bool = Field(default=True, description="Leave skin-toned pixels out of clothing votes")
    skin_max_share: float = Field(
        default=0.6, gt=0, le=1, description="A region more skin-toned than this gets no clothing colour"
    )
    background_mask: bool = Field(default=True, description="Leave out pixels that look like the box edges")
    background_ratio: float = Field(
        default=2.0, gt=1, description="How much commoner at the box edges than its middle is background"
    )
    min_valid_share: float = Field(
        default=0.25, gt=0, le=1, description="The background mask is skipped if it leaves less than this"
    )
    region_side: int = Field(default=32, ge=8, le=256, description="Regions are shrunk to this longer side")
    edge_margin_px: int = Field(default=2, ge=0, description="Boxes this close to the frame edge are cut")
    sharpness_ref: float = Field(default=100.0, gt=0, description="Laplacian variance of a sharp box")
    age_gender: bool = Field(
        default=False, description="Estimate age and gender from faces: a deployment decision, off by default"
    )
    age_band_edges: list[int] = Field(
        default_factory=lambda: [13, 18, 30, 45, 60],
        description="Ages (years) where apparent-age bands start: 0-12, 13-17, 18-29, 30-44, 45-59, 60+",
    )
    gender_min_confidence: float = Field(
        default=0.8, ge=0.5, le=1, description="Apparent gender is left unset below this voted probability"
    )
    age_gender_min_quality: float = Field(
        default=0.5, ge=0, le=1, description="Least face quality (faces.quality) used for age and gender"
    )

    @field_validator("palette")
    @classmethod
    def _known_palette(cls, value: list[str]) -> list[str]:
        basic = {
            "black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
        }
        unknown = set(value) - basic - {"beige"}
        missing = basic - set(value)
        if unknown or missing:
            raise ValueError(f"palette: unknown colours {sorted(unknown)}, missing {sorted(missing)}")
        return value

    @field_validator("age_band_edges")
    @classmethod
    def _ascending_edges(cls, value: list[int]) -> list[int]:
        if not value or value != sorted(set(value)) or value[0] < 1 or value[-1] > 99:
            raise ValueError("age_band_edges: strictly ascending ages between 1 and 99, e.g. [13, 18, 30, 45, 60]")
        return value


class FacesConfig(BaseModel):
    """Face detection, quality gate and matching. Defaults are measured by bench/faces.py."""

    detector: Literal["centerface", "blazeface"] = Field(default="centerface", description="Face detector")
    embedder: Literal["dlib-resnet", "faceres", "sface", "fused"] = Field(
        default="fused", description="Face embedder; fused = dlib-resnet and sface by weighted cosine"
    )
    fusion_weights: dict[str, float] = Field(
        default_factory=lambda: {"dlib-resnet": 0.72, "sface": 0.28},
        description="Weight of each part's cosine in the fused score (normalised to sum 1); changing them "
        "changes stored fused vectors: run `watchnet faces reembed`",
    )
    target_far: float = Field(
        default=1e-4, gt=0, lt=1,
        description="False-accept rate per face pair the default (fused) threshold is calibrated at (bench/faces.py)",
    )
    detect_max_side: int = Field(default=640, ge=64, le=4096, description="Long side of a full-frame input")
    region_size: int = Field(default=192, ge=64, le=1024, description="Detector input side per person box")
    region_top: float = Field(default=0.5, gt=0, le=1, description="Upper fraction of a person box searched")
    score_threshold: float = Field(default=0.5, gt=0, lt=1, description="Least detector score of a face")
    nms_iou: float = Field(default=0.3, gt=0, lt=1)
    min_face_px: int = Field(default=32, ge=8, description="Shorter box side below which a face never passes")
    good_face_px: int = Field(default=80, ge=8, description="Box side from which size stops lowering quality")
    sharp_ref: float = Field(default=100.0, gt=0, description="Laplacian variance of a sharp aligned chip")
    max_yaw: float = Field(default=1.25, gt=0, le=2, description="Nose offset (half eye gaps) at pose 0")
    min_quality: float = Field(default=0.5, ge=0, le=1, description="Least quality that passes the gate")
    match_thresholds: dict[str, float] = Field(
        default_factory=lambda: {"dlib-resnet": 0.925, "faceres": 0.631, "sface": 0.375, "fused": 0.79},
        description="Cosine similarity from which two faces are one person, per embedder: at FAR 1e-3 on photo "
        "pairs, fused at target_far 1e-4 (video faces of a look-alike reached 0.78; bench/faces.py, README)",
    )
    single_face_scores: dict[str, float] = Field(
        default_factory=lambda: {"dlib-resnet": 0.95, "fused": 0.85},
        description="Per embedder, the score from which one face alone decides a track's match (no impostor "
        "pair of the shared sets reaches it); an embedder not listed uses watchlist.single_face_score",
    )
    template_min_faces: int = Field(
        default=3, ge=0, le=100,
        description="Faces a track's quality-weighted template needs before it may decide a match (0: never)",
    )
    template_margin: float = Field(
        default=0.06, ge=0, le=1,
        description="Added to the match threshold for a track's template: averaging many faces pulls a "
        "template towards every similar face (Hamilton clip: a stranger's 65-face template reached 0.80 "
        "against a look-alike whose single faces stayed below 0.78)",
    )

    @model_validator(mode="after")
    def _threshold_for_embedder(self) -> FacesConfig:
        if self.embedder not in self.match_thresholds:
            raise ValueError(f"match_thresholds has no entry for embedder {self.embedder!r}")
        if self.good_face_px <= self.min_face_px:
            raise ValueError("good_face_px must be larger than min_face_px")
        return self

    @property
    def match_threshold(self) -> float:
        """The match threshold of the configured embedder."""
        return self.match_thresholds[self.embedder]


@functools.cache
def shipped_plate_formats() -> dict[str, list[str]]:
    """The plate formats shipped as data (watchnet/core/plate_formats/*.yaml), country -> patterns."""
    out: dict[str, list[str]] = {}
    folder = Path(__file__).parent / "plate_formats"
    for file in sorted(folder.glob("*.yaml")):
        for code, patterns in (yaml.safe_load(file.read_text(encoding="utf-8")) or {}).items():
            out[str(code)] = [str(p) for p in patterns]
    return out


def _expand_formats(code: str, formats: dict[str, list[str]], seen: tuple[str, ...] = ()) -> list[str]:
    out: list[str] = []
    for pattern in formats[code]:
        ref = pattern[1:] if pattern.startswith("@") else None
        if ref is None:
            out.append(pattern)
        elif ref in formats and ref not in seen:
            out.extend(_expand_formats(ref, formats, (*seen, code)))
        else:
            raise ValueError(f"plates.formats[{code!r}]: {pattern!r} names no other format (or a loop)")
    return out


# PlatesConfig restored by the colours engineer after the same accident, from the plates owner's own
# snapshot of this section (17:51); plates owner: check it matches your latest version.
class PlatesConfig(BaseModel):
    """Licence plates: how text is found and read, which strings count as plates, how a track votes.

    ``formats`` maps a country (or region) to regular expressions a whole normalised plate must match;
    ``countries`` lists the ones this deployment expects, most likely first. A read is cleaned (uppercase,
    only letters, digits and CJK characters kept), then the first country whose pattern it fits with the
    fewest edits (a confusable swapped, e.g. O<->0 at a position that must be a digit, or one stray edge
    character dropped, at most ``max_edits``) gives the plate. The generic ``eu`` format accepts any
    letter/digit mix, so only country-specific formats fix confusables: list those before ``eu``
    (e.g. ``[sk, eu]`` in Slovakia, ``[cn]`` in China).
    """

    det_limit_side: int = Field(default=960, ge=64, le=4096, description="Longest side the detector sees")
    det_min_side: int = Field(
        default=640, ge=0, le=2048, description="Enlarge smaller pictures to this shortest side first; 0: never"
    )
    det_box_thresh: float = Field(default=0.5, gt=0, lt=1, description="Least mean text probability of a box")
    det_unclip_ratio: float = Field(default=1.6, gt=0, description="How far a text box is grown (DB unclip)")
    use_cls: bool = Field(default=False, description="Run the 0/180 degree text-line orientation model")
    min_aspect: float = Field(default=1.5, gt=0, description="Narrowest text line (width/height) kept")
    max_aspect: float = Field(default=12.0, gt=0, description="Widest text line (width/height) kept")
    merge_gap: float = Field(
        default=1.0,
        ge=0,
        description="Also read two text boxes of one line as one plate when at most this many line heights "
        "apart and one is too short to be a plate (the detector splits widely spaced plates)",
    )
    crop_min_aspect: float = Field(
        default=2.0, gt=0, description="A picture at least this wide for its height is read as one plate crop"
    )
    crop_max_side: int = Field(default=160, ge=0, description="A picture this small is one plate crop")
    crop_pad: float = Field(
        default=0.1, ge=0, le=1, description="Border (in crop heights) put around a plate crop before reading"
    )
    scene_needs_digit: bool = Field(
        default=True, description="In scenes, only reads with a digit are plates (badges and signs have none)"
    )
    min_chars: int = Field(default=4, ge=1)
    max_chars: int = Field(default=10, ge=1)
    min_score: float = Field(default=0.5, ge=0, le=1, description="Least plate score reported")
    formats: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Extra or replacing formats, country -> regular expressions; the shipped ones are data in "
        "watchnet/core/plate_formats/*.yaml (an entry '@code' includes another code's patterns)",
    )
    countries: list[str] = Field(default_factory=lambda: ["eu", "cn"], description="Formats tried in order")
    confusables: dict[str, str] = Field(
        default_factory=lambda: dict(O="0", D="0", Q="0", I="1", Z="2", S="5", G="6", B="8"),
        description="Letter -> digit pairs the recogniser mixes up; swapped only where a format demands",
    )
    max_edits: int = Field(default=2, ge=0, le=4, description="Most swaps + dropped edge characters per read")
    edit_penalty: float = Field(default=0.9, gt=0, le=1, description="Score factor per edit")
    vote_window: int = Field(default=20, ge=1, description="Reads of one track kept for the vote")
    vote_sharp_ref: float = Field(default=150.0, gt=0, description="Laplacian variance of a sharp plate crop")
    vote_good_height_px: int = Field(default=24, ge=4, description="Plate crop height from which size stops mattering")
    edit_max_confidence: float = Field(
        default=0.98, ge=0, le=1, description="Characters read surer than this are never swapped or dropped"
    )
    calibration: list[tuple[float, float]] = Field(
        default_factory=lambda: [
            (0.5, 0.0), (0.6, 0.0), (0.7, 0.291), (0.8, 0.696), (0.85, 0.833), (0.9, 0.909), (0.95, 0.962),
            (1.0, 0.986),
        ],
        description="(read score, probability the plate is exactly right) points, linearly interpolated: "
        "a read's confidence. Isotonic fit by bench/plates.py --by-country on 137 best reads of the shared EU "
        "photos ([sk, eu]) and Chinese crops ([cn]); refit on a site's own labelled reads",
    )
    drop_inner: bool = Field(
        default=True, description="Also fit a format by dropping one inner character (an emblem read as one)"
    )
    lead_prior: dict[str, float] = Field(
        default_factory=dict,
        description="Weights on likely first characters, e.g. {'皖': 4} where most plates are local; {}: none",
    )
    two_row_max_aspect: float = Field(
        default=2.6, gt=0, description="Plate crops at most this wide for their height may be two-row plates"
    )
    two_row_band: tuple[float, float] = Field(
        default=(0.25, 0.6), description="Height fractions between which the gap of a two-row plate is sought"
    )
    two_row_gap: float = Field(
        default=0.35, gt=0, le=1, description="The gap row may hold at most this share of a text row's ink"
    )

    def all_formats(self) -> dict[str, list[str]]:
        """Shipped formats overlaid with ``formats``, '@code' references expanded."""
        merged = {**shipped_plate_formats(), **self.formats}
        return {code: _expand_formats(code, merged) for code in merged}

    def unknown_countries(self, codes: Sequence[str]) -> list[str]:
        """The codes among ``codes`` that name no plate format (a camera's ``plate_countries`` are checked so)."""
        known = {**shipped_plate_formats(), **self.formats}
        return [code for code in codes if code not in known]

    @model_validator(mode="after")
    def _known_countries(self) -> PlatesConfig:
        import re

        points = self.calibration
        rising = all(b[0] > a[0] and b[1] >= a[1] for a, b in itertools.pairwise(points))
        if len(points) < 2 or not rising or any(not 0 <= p <= 1 for _, p in points):
            raise ValueError("plates.calibration: at least two (score, probability) points, scores ascending, "
                             "probabilities in [0, 1] and not decreasing")
        known = self.all_formats()
        unknown = [c for c in self.countries if c not in known]
        if unknown:
            raise ValueError(f"plates.countries {unknown} are not in plates.formats {sorted(known)}")
        for country, patterns in known.items():
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"plates.formats[{country!r}]: bad pattern {pattern!r}: {exc}") from exc
        return self


class ApiConfig(BaseModel):
    """The operator's console: where the API listens, how logins and uploads are limited, the map.

    CORS is closed unless origins are listed: the dashboard is served by the same process, so it never
    needs it. Sessions expire after ``session_ttl_s``; a user+address pair with ``login_max_failures``
    failed logins within ``login_window_s`` is refused (429) until the window passes. The map shows a
    site-plan image (``map_image``, spanning ``map_bounds``) or tiles (``map_tiles``, a URL template with
    {z}/{x}/{y}, used only when set: nothing is fetched from outside otherwise).
    """

    host: str = Field(default="127.0.0.1", description="Address to listen on; 0.0.0.0 exposes it to the network")
    port: int = Field(default=8080, ge=1, le=65535)
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed cross-site; [] = none")
    session_ttl_s: float = Field(default=12 * 3600.0, gt=0, description="Lifetime of a login session or token")
    secure_cookies: bool = Field(default=False, description="Mark the session cookie Secure (serve over TLS)")
    login_max_failures: int = Field(default=5, ge=1, description="Failed logins per user+address before 429")
    login_window_s: float = Field(default=300.0, gt=0, description="Window the failures are counted in")
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Largest accepted photo upload")
    live_fps: float = Field(default=8.0, gt=0, le=60, description="Most frames/s a live MJPEG stream sends")
    live_max_side: int = Field(default=960, ge=160, le=4096, description="Live frames are shrunk to this side")
    live_jpeg_quality: int = Field(default=75, ge=20, le=100)
    map_image: Path | None = Field(default=None, description="Site-plan image (PNG/JPEG/SVG) for the map")
    map_tiles: str | None = Field(default=None, description="Tile URL template, e.g. a local tile server")
    map_bounds: tuple[tuple[float, float], tuple[float, float]] | None = Field(
        default=None, description="((south, west), (north, east)) the site plan covers; default: around cameras"
    )
    map_attribution: str = Field(default="", description="Credit shown under tiles")


class SearchConfig(BaseModel):
    """Sightings (one searchable record per track), forensic search and retention.

    Each track is described every ``sample_every``-th processed frame (at most ``max_samples`` times),
    so describing stays a small share of a frame's cost. Search runs indexed SQL filters first and then
    exact cosine similarity over the candidates; with few filters it scores the whole in-memory matrix
    and widens the top-K (``candidate_factor`` x the page) until enough candidates pass the filters.
    """

    describe: bool = Field(default=True, description="Describe tracks and write one sighting per track")
    sample_every: int = Field(default=5, ge=1, description="Describe a track every N-th processed frame")
    max_samples: int = Field(default=40, ge=1, description="Most described frames per track")
    min_box_px: int = Field(default=12, ge=4, description="Shorter box side below which a box is not described")
    plate_every: int = Field(default=1, ge=1, description="Read a vehicle's plate on every N-th sample")
    plate_min_width_px: int = Field(default=80, ge=16, description="Narrower vehicle boxes are not read")
    thumbnails_dir: Path | None = Field(default=None, description="Sighting thumbnails; default: home/thumbnails")
    thumbnail_side: int = Field(default=256, ge=32, le=2048, description="Longer side of a stored thumbnail")
    hotlist_max_edits: int = Field(default=1, ge=0, le=3, description="Plate edits still matching a hotlist entry")
    hotlist_min_score: float = Field(default=0.6, ge=0, le=1, description="Least plate read score that alerts")
    fuzzy_max_edits: int = Field(default=1, ge=0, le=3, description="Edits a --fuzzy plate search allows")
    default_limit: int = Field(default=50, ge=1, description="Results per page")
    max_limit: int = Field(default=1000, ge=1, description="Largest page a caller may ask for")
    prefilter_max: int = Field(
        default=50_000, ge=1, description="Score SQL-filtered candidates exactly when at most this many"
    )
    candidate_factor: int = Field(default=20, ge=1, description="Vector-first top-K, in pages, before filtering")
    subject_days: float = Field(default=7.0, gt=0, description="Default window of a watchlist-subject search")
    window_slack_s: float = Field(
        default=3600.0, ge=0, description="Longest track a time window still catches when it began before the window"
    )
    purge_every_s: float = Field(default=3600.0, gt=0, description="Period of the automatic retention purge")
    purge_batch: int = Field(default=5000, ge=1, description="Rows deleted per statement during a purge")


class WebhookConfig(BaseModel):
    """One HTTP endpoint that receives every alert as a signed JSON POST (see events/sinks/webhook.py)."""

    url: str = Field(pattern=r"^https?://", description="http(s) URL the alert JSON is POSTed to")
    secret: str = Field(min_length=16, description="Shared HMAC-SHA256 key; the receiver verifies with it")
    timeout_s: float = Field(default=5.0, gt=0, description="Per-attempt connect + read timeout")
    include_crop: bool = Field(default=False, description="Embed the face crop JPEG (base64) in the body")


class MqttConfig(BaseModel):
    """An MQTT broker every alert is published to (QoS 1), e.g. for a control-room integration."""

    host: str
    port: int = Field(default=1883, ge=1, le=65535)
    topic: str = Field(default="watchnet/alerts", min_length=1)
    username: str | None = None
    password: str | None = None
    tls: bool = False
    qos: int = Field(default=1, ge=0, le=2)


class WatchlistConfig(BaseModel):
    """Enrolment limits and per-track face matching. Vote defaults are measured by bench/manhunt.py.

    A track is matched, never a single frame: its face is sampled every ``sample_every``-th detected
    frame, and a subject matches when at least ``vote_min`` of the track's last ``vote_window`` sampled
    faces score at or above ``faces.match_threshold`` (and are closer to the subject than to any of its
    negative examples), or one face scores ``single_face_score`` or more (no impostor pair reached 0.94
    on the shared photo sets, where the threshold is 0.925).
    """

    sample_every: int = Field(default=1, ge=1, description="Look for a track's face every N-th detected frame")
    keep_faces: int = Field(default=5, ge=1, le=50, description="Best-quality faces kept per live track (memory)")
    evidence_faces: int = Field(
        default=20, ge=1, le=200, description="Matching faces of an alerted track kept with its alert"
    )
    vote_window: int = Field(default=5, ge=1, description="Last sampled faces of a track the vote counts over")
    vote_min: int = Field(default=2, ge=1, description="Faces above threshold needed within the window")
    single_face_score: float = Field(default=0.95, gt=0, le=1, description="One face this close is enough")
    unbind_after: int = Field(
        default=5, ge=1, description="Sampled faces in a row not matching the subject that take a track's name off"
    )
    reload_s: float = Field(default=2.0, gt=0, description="How often a running matcher checks for changes")
    max_photo_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, description="Largest enrolment photo file")
    max_photo_pixels: int = Field(default=50_000_000, ge=10_000, description="Largest enrolment photo (w x h)")

    @model_validator(mode="after")
    def _vote_fits_window(self) -> WatchlistConfig:
        if self.vote_min > self.vote_window:
            raise ValueError("watchlist.vote_min cannot exceed watchlist.vote_window")
        return self


class AlertsConfig(BaseModel):
    """Where alerts go besides the store and the live bus, how delivery retries, who must confirm."""

    webhooks: list[WebhookConfig] = Field(default_factory=list)
    mqtt: MqttConfig | None = None
    retry_attempts: int = Field(default=6, ge=1, description="Delivery attempts per alert and endpoint")
    retry_initial_s: float = Field(default=1.0, gt=0, description="First back-off; doubles on every retry")
    retry_max_s: float = Field(default=60.0, gt=0, description="Longest wait between two attempts")
    confirmations: int = Field(default=2, ge=1, description="Distinct users who must confirm an alert")
    jpeg_quality: int = Field(default=90, ge=20, le=100, description="Face crop and snapshot JPEG quality")
    crop_margin: float = Field(default=0.4, ge=0, le=2, description="Context around the face box in the crop")
    bus_queue: int = Field(default=256, ge=1, description="Alerts buffered per live subscriber before dropping")
    group_window_s: float = Field(
        default=600.0, ge=0,
        description="Matches of one subject on one camera within this long of the open alert's last match update "
        "that alert (count, last seen, best face, tracks) instead of raising a new one; 0: every match is new",
    )
    group_max_faces: int = Field(
        default=200, ge=1, le=2000, description="Faces an alert group keeps for a dismissal to turn into negatives"
    )
    clip_before_s: float = Field(default=3.0, ge=0, le=30, description="Seconds of video before the match in "
                                 "the alert's clip (written next to its snapshot); 0 and clip_after_s 0: no clip")
    clip_after_s: float = Field(default=3.0, ge=0, le=30, description="Seconds of video after the match in the clip")
    clip_fps: float = Field(default=5.0, gt=0, le=30, description="Frames a second kept for clips (ring per camera)")
    clip_max_side: int = Field(default=640, ge=160, le=1920, description="Longest side of the clip's frames")


class ExportsConfig(BaseModel):
    """How exports (alert and search ZIPs, annotated videos) and the viewers' live view hide the faces of
    everyone who is not a watchlist match.

    A face box (grown by ``face_margin``) is shrunk to ``blur_cells`` samples across and smoothed back up:
    the detail is discarded, not hidden, so no filter brings it back. With the defaults a blurred face's
    embedding falls far below the match threshold (tests/integration/test_exports.py measures it with
    both embedders). A person box where no face is found gets its top ``head_fraction`` blurred instead,
    so a missed face never slips through. The annotated video looks for faces every
    ``video_face_every``-th frame and moves each track's last face with its box in between.
    """

    blur_faces: bool = Field(default=True, description="Blur the faces of non-matches in exports by default")
    blur_cells: int = Field(default=6, ge=2, le=32, description="Samples kept across a blurred face; fewer: stronger")
    face_margin: float = Field(default=0.25, ge=0, le=1, description="Face box growth on every side before blurring")
    head_fraction: float = Field(default=0.28, gt=0, le=1, description="Top share of a person box blurred as its head")
    video_face_every: int = Field(
        default=5, ge=0, description="Annotated video: look for faces every N-th frame; 0: head regions only"
    )
    live_face_every: int = Field(
        default=3, ge=1, description="Viewers' live picture: search faces every N-th rendered frame (and on changes)"
    )
    live_scene_change: float = Field(
        default=12.0, gt=0, description="Mean grey change (0-255) of a tiny thumbnail that forces a face search"
    )
    live_settle_s: float = Field(
        default=1.0, gt=0, description="A live frame not replaced for this long is searched again in full"
    )
    viewer_whole_side: int = Field(
        default=384, ge=64, le=4096, description="Viewers' pictures: long side the whole-frame face search runs at"
    )
    fail_closed_px: int = Field(
        default=24, ge=4, description="Without a face detector a viewer's picture is blurred whole, cells this wide"
    )


class LinkingConfig(BaseModel):
    """How tracks from different cameras are joined into journeys (``watchnet.services.linking``).

    Each cue adds a log-likelihood ratio ``clip((s - centre) * scale, -cap, cap)`` to the prior log-odds
    and the sum becomes the link probability (naive Bayes): a cue missing on either side adds nothing.
    The cue weights are a logistic-regression fit (bench/linking_fit.py, results/linking_fit.json) on the
    candidate pairs of the first 39.7 s of the PETS three-strip bench only (the default detector), checked
    on the second half (joint AUC 0.84, 0.86 with continuity; continuity alone 0.89 across cameras where it
    speaks: it is fitted on its own, so pairs it cannot speak to keep the same calibration) and
    on iitd_two_camera (real different cameras: same-person re-id cosines there sit below ``reid_centre``,
    so across real cameras the re-id cue errs towards "different": fewer links, not wrong ones).
    A link at or above ``link_at`` joins the journeys at once, one at or above ``candidate_at`` is kept
    for an operator to confirm or cut.
    """

    enabled: bool = Field(default=True, description="Run the linker in `watchnet run` and `watchnet serve`")
    poll_s: float = Field(default=1.0, gt=0, description="How often new sightings are read and linked")
    window_s: float = Field(default=120.0, gt=0, description="Longest gap between two linked tracks")
    overlap_slack_s: float = Field(default=1.0, ge=0, description="Time overlap tolerated between separate views")
    max_candidates: int = Field(default=200, ge=1, description="Most earlier sightings scored per new sighting")
    longest_track_s: float = Field(default=600.0, gt=0, description="Longest track the candidate query expects")
    max_speed_mps: dict[str, float] = Field(
        default_factory=lambda: {"person": 4.0, "bicycle": 15.0, "car": 50.0, "motorcycle": 50.0,
                                 "bus": 35.0, "truck": 40.0},
        description="Fastest plausible speed per class: a link needing more is refused",
    )
    view_radius_m: float = Field(
        default=15.0, ge=0, description="How far from its map position a camera sees: the speed check "
        "measures from view edge to view edge (position distance minus twice this)")
    prior_log_odds: float = Field(default=-1.91, description="Log-odds of a link before any evidence")
    link_at: float = Field(default=0.5, gt=0, le=1, description="Probability from which a link is made at once")
    candidate_at: float = Field(default=0.3, gt=0, le=1, description="Probability from which a link is a candidate")
    min_margin: float = Field(default=1.0, ge=0, description="Log-odds by which the best journey must beat the "
                              "runner-up for an automatic link (else both stay candidates)")
    appearance_centre: float = Field(default=0.844, description="Colour-layout cosine where same and other are even")
    appearance_scale: float = Field(default=9.22, ge=0, description="Log-odds per unit of colour-layout cosine")
    reid_centre: float = Field(default=0.86, description="Re-id cosine where same and other are even")
    reid_scale: float = Field(default=14.24, ge=0, description="Log-odds per unit of re-id cosine")
    face_scale: float = Field(default=25.0, ge=0, description="Log-odds per unit of face cosine (centre: threshold)")
    cue_cap: float = Field(default=6.0, gt=0, description="Largest log-odds one soft cue may add or take")
    plate_same: float = Field(default=12.0, ge=0, description="Log-odds added by equal plates (beats any soft cue)")
    plate_near: float = Field(default=3.0, ge=0, description="Log-odds added by plates one edit apart")
    plate_differ: float = Field(default=-6.0, le=0, description="Log-odds added by clearly different plates")
    colour_same: float = Field(default=0.37, ge=0, description="Log-odds added per equal clothing/vehicle colour")
    colour_differ: float = Field(default=-0.37, le=0, description="Log-odds added per differing colour")
    transit_inside: float = Field(default=0.0, ge=0, description="Log-odds of a gap inside the declared window")
    transit_outside: float = Field(default=-5.69, le=0, description="Log-odds of a gap outside the declared window")
    same_camera: float = Field(default=-1.19, description="Log-odds added to a re-entry into the same camera")
    zone_match: float = Field(default=0.46, ge=0, description="Log-odds when a track left by the declared exit "
                              "zone and the next appeared in the declared entry zone")
    zone_miss: float = Field(default=-0.46, le=0, description="Log-odds when declared zones were not used")
    gait_scale: float = Field(default=0.0, ge=0, description="Log-odds per unit of gait cosine (0: cue unused)")
    continuity_centre: float = Field(
        default=0.97, ge=0, description="Continuity error (in heights of the person) where same and other are even: "
        "the earlier track's exit, carried on at its speed for the gap, against the later track's entry")
    continuity_scale: float = Field(default=1.72, ge=0, description="Log-odds per person-height of continuity "
                                    "error below the centre (0: cue unused)")
    continuity_tau_s: float = Field(default=2.0, gt=0, description="Gap over which the allowed continuity "
                                    "error doubles (people change pace and direction out of sight)")
    continuity_max_gap_s: float = Field(default=10.0, ge=0, description="Longest gap the continuity cue speaks to")
    histogram_bin_s: float = Field(default=2.0, gt=0, description="Bin width of learned transit-time histograms")
    learn_min_links: int = Field(default=5, ge=1, description="Confirmed links a camera pair needs before its "
                                 "learned transit histogram replaces the declared window")
    alert_wait_s: float = Field(default=600.0, gt=0, description="How long an alert waits for its track's sighting")
    provisional_after_s: float = Field(
        default=1.0, ge=0, description="Seconds a track must run before its sighting is written early "
        "(provisional, linked and followed while the person is still in view; updated in place when the "
        "track ends). 0: only when the track ends")
    provisional_min_crops: int = Field(default=3, ge=1, description="Described crops a track needs before "
                                       "its provisional sighting is written")


class ReidConfig(BaseModel):
    """Person re-identification embeddings (``watchnet.vision.analysis.reid``): the ``reid`` model slot.

    Default: ImageNet MobileNetV2 features of block 13 and of the last layer, each pooled over 4
    horizontal stripes (bench/reid.py measured it best of GAP, GeM and stripe variants), minus the
    directions that vary most inside one track (a projection fitted on the site's own tracks by
    ``watchnet reid fit``; until then the one fitted on PETS ships).
    A user's own ONNX (input [N,3,H,W] ImageNet-normalised RGB, output [N,D]) goes in ``model_paths.reid``.
    """

    enabled: bool = Field(default=True, description="Give every sampled person track a re-id embedding")
    model: str = Field(default="reid", description="Model slot (catalogue name) of the re-id network")
    labels: list[str] = Field(default_factory=lambda: ["person"], description="Track classes that get one")
    input_size: tuple[int, int] = Field(default=(256, 128), description="Height, width when the model's is dynamic")
    input_norm: Literal["imagenet", "unit", "raw"] = Field(
        default="imagenet", description="RGB pixels fed as (x/255-mean)/std, x/255, or 0..255")
    max_crops: int = Field(default=8, ge=1, le=64, description="Most crops per track embedded (best by weight)")
    colour_weight: float = Field(
        default=0.0, ge=0, lt=1, description="Share of the colour-layout vector fused in (0: CNN only, measured best)")
    adapt: bool = Field(default=True, description="Apply the fitted (or shipped) track-nuisance projection")
    projection_path: Path | None = Field(
        default=None, description="A projection .npz; None: the site's fitted one in the models dir, else shipped")
    fit_directions: int = Field(default=16, ge=1, le=256, description="Within-track directions `reid fit` removes")
    fit_min_crops: int = Field(default=4, ge=2, description="Least crops a track needs to count in `reid fit`")

class WorkersConfig(BaseModel):
    """Camera worker processes of ``watchnet serve`` (``watchnet.runtime.camera``): isolation, supervision, event log.

    ``process``: cameras run in worker processes (a decoder crash or a hang costs one worker, never the
    console); ``thread``: cameras run as threads of the console process (one process, least memory).
    """

    mode: Literal["process", "thread"] = Field(default="process", description="Where serve runs its cameras")
    cameras_per_worker: int = Field(default=1, ge=1, description="Cameras a worker takes before another is started")
    max_workers: int = Field(default=0, ge=0, description="Most worker processes (0: one per CPU core, at least 2); "
                             "past it, new cameras join the least-loaded worker")
    heartbeat_s: float = Field(default=1.0, gt=0, description="How often a worker reports its health")
    heartbeat_timeout_s: float = Field(default=20.0, gt=0, description="Silence after which a worker is hung: killed")
    start_timeout_s: float = Field(default=180.0, gt=0, description="Grace for a worker still starting (imports, "
                                   "model loading) before silence counts as hung")
    restart_initial_s: float = Field(default=0.5, ge=0, description="First pause before restarting a dead worker")
    restart_max_s: float = Field(default=30.0, gt=0, description="Longest pause (doubles per crash up to this)")
    stable_s: float = Field(default=60.0, gt=0, description="A worker up this long starts its back-off afresh")
    stop_grace_s: float = Field(default=8.0, gt=0, description="On stop, wait this long before killing a worker")
    event_poll_s: float = Field(default=0.2, gt=0, description="Event log poll interval on SQLite (PG: fallback)")
    ray_address: str | None = Field(default=None, description="A Ray cluster (watchnet cluster up) whose camera "
                                    "actors this console shows live, pulled on demand; needs watchnet[cluster]")


class Settings(BaseSettings):
    """The whole configuration of one watchnet deployment."""

    model_config = SettingsConfigDict(
        env_prefix="WATCHNET_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    home: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("watchnet")))
    models_dir: Path | None = Field(default=None, description="Model cache; default: user cache dir")
    model_paths: dict[str, Path] = Field(
        default_factory=dict,
        description="Point a model slot (e.g. 'nanodet', 'detector') at your own ONNX file instead of the store",
    )
    database_url: str | None = Field(default=None, description="Default: SQLite file under home")
    cameras: list[CameraConfig] = Field(default_factory=list)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    scene: SceneConfig = Field(default_factory=SceneConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    stream: StreamConfig = Field(default_factory=StreamConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    faces: FacesConfig = Field(default_factory=FacesConfig)
    plates: PlatesConfig = Field(default_factory=PlatesConfig)
    attributes: AttributesConfig = Field(default_factory=AttributesConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    identity_mode: Literal["watchlist-only", "keep-embeddings"] = Field(
        default="watchlist-only",
        description="watchlist-only: never write a face embedding of an unenrolled person to disk",
    )
    retention_days: float = Field(default=30.0, gt=0)
    search: SearchConfig = Field(default_factory=SearchConfig)
    watchlist: WatchlistConfig = Field(default_factory=WatchlistConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    exports: ExportsConfig = Field(default_factory=ExportsConfig)
    linking: LinkingConfig = Field(default_factory=LinkingConfig)
    reid: ReidConfig = Field(default_factory=ReidConfig)
    workers: WorkersConfig = Field(default_factory=WorkersConfig)

    @model_validator(mode="after")
    def _unique_camera_names(self) -> Settings:
        names = [c.name for c in self.cameras]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"camera names must be unique; repeated: {dupes}")
        for camera in self.cameras:
            unknown_plates = self.plates.unknown_countries(camera.plate_countries or [])
            if unknown_plates:
                raise ValueError(f"camera {camera.name}: plate_countries {unknown_plates} are not in plates.formats")
        return self

    # --- derived paths: one data directory holds all state -------------------------------------
    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or Path(platformdirs.user_cache_dir("watchnet")) / "models"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'watchnet.db'}"

    @property
    def snapshots_dir(self) -> Path:
        return self.home / "snapshots"

    @property
    def thumbnails_dir(self) -> Path:
        """Where sighting thumbnails live (retention deletes expired ones here)."""
        return self.search.thumbnails_dir or self.home / "thumbnails"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)

    @classmethod
    def load(cls, config_file: Path | str | None = None, **overrides: Any) -> Settings:
        """Build settings from an optional YAML file, the environment and explicit overrides.

        Environment variables beat the file; explicit keyword overrides beat both.
        """
        file_values: dict[str, Any] = {}
        if config_file is not None:
            path = Path(config_file)
            if not path.is_file():
                raise FileNotFoundError(f"config file not found: {path}")
            loaded = yaml.safe_load(path.read_text()) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: the top level must be a mapping, got {type(loaded).__name__}")
            file_values = loaded
        env_only = cls()  # environment + defaults
        merged = _deep_merge(file_values, env_only.model_dump(exclude_defaults=True))
        merged = _deep_merge(merged, overrides)
        return cls(**merged)


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
