"""Describe each track for search: voted colours, plate, best crop, appearance (and face) vectors.

``DescribeAnalyzer`` is a ``TrackAnalyzer``: it samples each track every ``search.sample_every``-th
detected frame (boxes the tracker only carried are skipped), so describing costs a few small crops per
track, not per frame. At the track's end it fills ``track.attributes`` with the voted description and
hands one ``Sighting`` to ``on_sighting`` (the store's ``SightingWriter.put``); this module never writes
to the database itself.

Appearance vector ("similar-looking people"): no person re-identification model ships in a registry
package we can fetch, so it is a colour layout descriptor: the crop, its sides cut by 15 %, in 8
horizontal stripes, each an HSV histogram of 6 hues x 2 saturations for coloured pixels plus 4
brightness bins for grey ones (128 values), square-rooted (Hellinger) and L2-normalised; a track's
vector is the weighted mean of its samples. Measured on PETS09-S2L1 ground-truth crops (19 people,
first half of each person's crops against the second half; bench/search.py, "reid"): crop rank-1 0.47,
mAP 0.39, track-level rank-1 0.74 (chance 0.05). A coarse HOG block added +0.01 rank-1 for +50 % size
and was left out. It finds people dressed alike, not the same person in other clothes.

Re-identification (``watchnet.vision.analysis.reid``, when ``reid.enabled``): the ``reid.max_crops`` best
sampled crops of a track of a ``reid.labels`` class are kept (resized to the model's input, so a track
holds at most a few hundred kB) and embedded in one batch when the track ends; their weighted mean,
re-normalised, is the sighting's ``reid_embedding``, whose dot product is the linker's appearance
similarity.

Provisional sightings: once a track has run ``linking.provisional_after_s`` seconds and been described
``linking.provisional_min_crops`` times, its sighting is handed over early, marked ``provisional``, with
the description, vectors and plate voted so far (the re-id crops are embedded then, and again at the
end), so the linker and follow mode see the person while they are still in view. At the track's end the
final sighting follows as always; the store updates the provisional row with it (one row per track).

Faces: only in ``identity_mode == "keep-embeddings"`` (and given a ``FaceAnalyzer``) is the best face of
a person track embedded and put on its sighting; in "watchlist-only" mode no face is even embedded here.

Apparent age band and gender (``watchnet.vision.analysis.age_gender``): only when the deployment switch
``attributes.age_gender`` is on. The faces already found inside a sampled person box (one detection
call serves both this and the face embedding) that reach ``age_gender_min_quality`` are estimated, the
best one per sample, and voted over the track by face quality; the result lands in ``track.attributes``
and the sighting. With the switch off no model is loaded, nothing is estimated and nothing is stored.

Plates: vehicles at least ``plate_min_width_px`` wide are read every ``plate_every``-th sample and the
reads voted (``PlateVoter``). A read matching the hotlist raises one ``Alert(kind="plate")`` per track,
returned from ``observe``, so it takes the same path as face alerts (``Runner(on_alert=...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import cv2
import numpy as np
import supervision as sv

from watchnet.core.config import CameraConfig, Settings
from watchnet.core.plate_text import match_hotlist
from watchnet.core.records import CLASSES, VEHICLE_CLASSES, Alert, Frame, Sighting, Track
from watchnet.vision.analysis.age_gender import AgeGenderEstimator, AgeGenderVoter
from watchnet.vision.analysis.attributes import AttributeVoter, describe_person, describe_vehicle
from watchnet.vision.analysis.colours import frame_levels
from watchnet.vision.analysis.faces import FaceAnalyzer
from watchnet.vision.analysis.plates import PlateVoter
from watchnet.vision.analysis.reid import ReidEmbedder, resize_crop, track_embedding
from watchnet.vision.analysis.track import track_end

if TYPE_CHECKING:
    from watchnet.core.records import Face
    from watchnet.vision.analysis.plates import PlateReader
# The appearance vector's layout (a stored format: changing it makes old vectors incomparable).
_SIZE = (64, 128)  # width, height the crop is resized to
_STRIPES, _HUES, _SATS, _GREYS, _INSET = 8, 6, 2, 4, 0.15
APPEARANCE_DIM = _STRIPES * (_HUES * _SATS + _GREYS)


def appearance_embedding(crop_bgr: np.ndarray) -> np.ndarray:
    """The 128-d L2-normalised colour-layout vector of a person crop (see the module docstring)."""
    if crop_bgr.ndim != 3 or crop_bgr.shape[0] < 4 or crop_bgr.shape[1] < 4:
        raise ValueError(f"a person crop must be an H x W x 3 image of at least 4 px, got {crop_bgr.shape}")
    image = cv2.resize(crop_bgr, _SIZE, interpolation=cv2.INTER_AREA)
    cut = round(_SIZE[0] * _INSET)
    hsv = cv2.cvtColor(np.ascontiguousarray(image[:, cut : _SIZE[0] - cut]), cv2.COLOR_BGR2HSV).astype(np.float32)
    hue, sat, val = hsv[..., 0] / 180.0, hsv[..., 1] / 255.0, hsv[..., 2] / 255.0
    coloured = (sat > 0.2) & (val > 0.15)
    hue_bin = np.minimum((hue * _HUES).astype(np.int32), _HUES - 1)
    sat_bin = np.clip(((sat - 0.2) / 0.8 * _SATS).astype(np.int32), 0, _SATS - 1)
    grey_bin = np.minimum((val * _GREYS).astype(np.int32), _GREYS - 1)
    parts = []
    for rows in np.array_split(np.arange(_SIZE[1]), _STRIPES):
        c, g = coloured[rows], grey_bin[rows]
        chroma = np.bincount((hue_bin[rows] * _SATS + sat_bin[rows])[c], minlength=_HUES * _SATS)
        greys = np.bincount(g[~c], minlength=_GREYS)
        part = np.concatenate([chroma, greys]).astype(np.float32)
        parts.append(part / max(float(part.sum()), 1.0))
    vector = np.sqrt(np.concatenate(parts))
    return (vector / max(float(np.linalg.norm(vector)), 1e-9)).astype(np.float32)


@dataclass(frozen=True, slots=True)
class HotPlate:
    """A plate on the hotlist and the subject (vehicle or owner record) it raises alerts for."""

    subject_id: int
    name: str
    plate: str


@dataclass(slots=True)
class _TrackState:
    label: str
    voter: AttributeVoter
    plates: PlateVoter
    seen: int = 0
    next_due: int = 1
    samples: int = 0
    appearance: np.ndarray | None = None
    appearance_weight: float = 0.0
    best_crop: tuple[float, np.ndarray] | None = None
    face: tuple[float, np.ndarray] | None = None
    age_gender: AgeGenderVoter | None = None
    alerted: set[str] = field(default_factory=set)
    reid_crops: list[tuple[float, np.ndarray]] = field(default_factory=list)
    provisional_sent: bool = False


class DescribeAnalyzer:
    """Per-camera describer: colours, plates, best crop, appearance/face vectors -> one Sighting per track."""

    def __init__(
        self,
        camera: CameraConfig,
        settings: Settings,
        *,
        plates: PlateReader | None = None,
        faces: FaceAnalyzer | None = None,
        hotlist: Sequence[HotPlate] | Callable[[], Sequence[HotPlate]] = (),
        on_sighting: Callable[[Sighting], None] | None = None,
        age_gender: AgeGenderEstimator | None = None,
        reid: ReidEmbedder | None = None,
    ) -> None:
        """``age_gender`` lets cameras share one estimator; with the switch on and none given, one is made
        (and a ``FaceAnalyzer`` too if ``faces`` is None). With the switch off both are ignored."""
        self.camera = camera
        self.settings = settings
        self.cfg = settings.search
        self.plates = plates
        self.faces = faces if settings.identity_mode == "keep-embeddings" else None
        self.age_gender: AgeGenderEstimator | None = None
        self._face_finder = self.faces
        if settings.attributes.age_gender:
            if faces is None:
                from watchnet.vision.analysis.faces import FaceAnalyzer

                faces = FaceAnalyzer(settings)
            self.age_gender = age_gender or AgeGenderEstimator(settings, faces.store)
            self._face_finder = faces
        self.reid: ReidEmbedder | None = None
        if settings.reid.enabled:
            if reid is None:
                from watchnet.vision.analysis.reid import ReidEmbedder

                reid = ReidEmbedder(settings)
            self.reid = reid
        self.hotlist = hotlist
        self.on_sighting = on_sighting
        self.thumbnails_dir = settings.thumbnails_dir / camera.name
        self._tracks: dict[int, _TrackState] = {}

    # --- TrackAnalyzer -----------------------------------------------------------------------------
    def observe(self, frame: Frame, tracked: sv.Detections, tracks: dict[int, Track]) -> list[Alert]:
        """Sample the detected boxes that are due; return plate-hotlist alerts raised on this frame."""
        if not len(tracked) or tracked.tracker_id is None or tracked.class_id is None:
            return []
        carried = tracked.data.get("carried", np.zeros(len(tracked), bool))
        scores = tracked.confidence if tracked.confidence is not None else np.ones(len(tracked), np.float32)
        levels: np.ndarray | None = None
        alerts: list[Alert] = []
        for xyxy, class_id, track_id, score, was_carried in zip(
            tracked.xyxy, tracked.class_id, tracked.tracker_id, scores, carried, strict=True
        ):
            if was_carried or int(track_id) not in tracks:
                continue
            label = CLASSES[int(class_id)]
            state = self._tracks.get(int(track_id))
            if state is None:
                cfg = self.settings
                state = _TrackState(label, AttributeVoter(cfg.attributes), PlateVoter.from_config(cfg.plates))
                if self.age_gender is not None and label == "person":
                    state.age_gender = AgeGenderVoter(cfg.attributes)
                self._tracks[int(track_id)] = state
            state.seen += 1
            box = tuple(float(v) for v in xyxy)
            if state.seen < state.next_due or state.samples >= self.cfg.max_samples:
                continue
            if min(box[2] - box[0], box[3] - box[1]) < self.cfg.min_box_px:
                continue  # still due: the next bigger box is sampled
            state.next_due = state.seen + self.cfg.sample_every
            if levels is None and self.settings.attributes.frame_levels:
                levels = frame_levels(frame.image)
            state.samples += 1
            alert = self._sample(frame, box, float(score), int(track_id), state, levels)
            if alert is not None:
                alerts.append(alert)
            self._maybe_provisional(tracks[int(track_id)], state)
        return alerts

    def _maybe_provisional(self, track: Track, state: _TrackState) -> None:
        """Hand the track's sighting over early once it has enough evidence (see the module docstring)."""
        cfg = self.settings.linking
        if (state.provisional_sent or self.on_sighting is None or cfg.provisional_after_s <= 0
                or state.samples < cfg.provisional_min_crops
                or track.last_seen - track.first_seen < cfg.provisional_after_s):
            return
        state.provisional_sent = True
        attributes, plate = self._voted(state)
        self.on_sighting(self._sighting(track, state, {**track.attributes, **attributes}, plate, provisional=True))

    def track_ended(self, track: Track) -> None:
        """Fill ``track.attributes`` with the voted description and emit the track's sighting."""
        state = self._tracks.pop(track.track_id, None)
        if state is None:
            return
        attributes, plate = self._voted(state)
        track.attributes.update(attributes)
        if self.on_sighting is None:
            return
        self.on_sighting(self._sighting(track, state, dict(track.attributes), plate))

    def _voted(self, state: _TrackState) -> tuple[dict[str, object], str | None]:
        """The track's description voted so far, and its voted plate."""
        attributes: dict[str, object] = state.voter.result() if state.voter.observations else {}
        voted_plate = state.plates.result()
        if voted_plate is not None:
            attributes["plate"], attributes["plate_confidence"] = voted_plate
        if state.age_gender is not None:
            attributes.update(state.age_gender.attributes())
        return attributes, voted_plate[0] if voted_plate else None

    def _sighting(self, track: Track, state: _TrackState, attributes: dict[str, object], plate: str | None,
                  provisional: bool = False) -> Sighting:
        appearance = None
        if state.appearance is not None and state.appearance_weight > 0:
            appearance = state.appearance / max(float(np.linalg.norm(state.appearance)), 1e-9)
        return Sighting(
            camera=track.camera, track_id=track.track_id, label=track.label,
            first_seen=datetime.fromtimestamp(track.first_seen, UTC),
            last_seen=datetime.fromtimestamp(track.last_seen, UTC),
            attributes=attributes, plate=plate,
            face_embedding=state.face[1] if state.face is not None else None,
            appearance_embedding=appearance,
            thumbnail_path=self._save_thumbnail(track, state),
            reid_embedding=self._reid_embedding(state),
            provisional=provisional,
            entry=track_end(track.head, at_start=True),
            exit=track_end(track.tail, at_start=False),
        )

    def _reid_embedding(self, state: _TrackState) -> np.ndarray | None:
        """The track's re-id vector: its kept crops embedded in one batch, weighted mean, unit length."""
        if self.reid is None or not state.reid_crops:
            return None
        weights = np.asarray([w for w, _ in state.reid_crops], np.float32)
        return track_embedding(self.reid.embed([c for _, c in state.reid_crops]), weights)

    def _keep_reid_crop(self, state: _TrackState, weight: float, crop: np.ndarray) -> None:
        """Keep the ``reid.max_crops`` highest-weighted crops, resized to the model input."""
        assert self.reid is not None
        kept = state.reid_crops
        if len(kept) >= self.settings.reid.max_crops:
            low = min(range(len(kept)), key=lambda i: kept[i][0])
            if kept[low][0] >= weight:
                return
            kept.pop(low)
        kept.append((weight, resize_crop(crop, *self.reid.size)))

    # --- one sample --------------------------------------------------------------------------------
    def _sample(
        self, frame: Frame, box: tuple[float, ...], score: float, track_id: int, state: _TrackState,
        levels: np.ndarray | None,
    ) -> Alert | None:
        image = frame.image
        attrs = self.settings.attributes
        if state.label == "person":
            described = describe_person(image, box, levels=levels, config=attrs) if attrs.enabled else {}
        else:
            described = describe_vehicle(image, box, state.label, levels=levels, config=attrs) \
                if attrs.enabled else {"vehicle_type": state.label}
        weight = state.voter.add(described, box, image.shape) * score
        crop = _crop(image, box)
        if crop is None:
            return None
        if not described.get("truncated") and (state.best_crop is None or weight > state.best_crop[0]):
            state.best_crop = (weight, _shrink(crop, self.cfg.thumbnail_side))
        if self.reid is not None and state.label in self.settings.reid.labels and weight > 0:
            self._keep_reid_crop(state, weight, crop)
        if state.label == "person":
            vector = appearance_embedding(crop) * weight
            state.appearance = vector if state.appearance is None else state.appearance + vector
            state.appearance_weight += weight
            if self._face_finder is not None:
                self._sample_faces(image, box, state)
            return None
        if state.label in VEHICLE_CLASSES and self.plates is not None:
            return self._sample_plate(frame, crop, box, track_id, state)
        return None

    def _sample_faces(self, image: np.ndarray, box: tuple[float, ...], state: _TrackState) -> None:
        """Detect faces in the person box once; feed them to the embedding and to age/gender."""
        assert self._face_finder is not None
        found = self._face_finder.detect(image, regions=[(box[0], box[1], box[2], box[3])])
        if not found:
            return
        if self.faces is not None:
            self._sample_face(image, [f for f in found if self.faces.passes_quality(f)], state)
        if self.age_gender is not None and state.age_gender is not None:
            self._sample_age_gender(image, found, state.age_gender)

    def _sample_face(self, image: np.ndarray, found: list[Face], state: _TrackState) -> None:
        assert self.faces is not None
        if not found:
            return
        best = max(found, key=lambda f: f.quality)
        if state.face is not None and state.face[0] >= best.quality:
            return
        self.faces.embed(image, [best])
        if best.embedding is not None:
            state.face = (best.quality, best.embedding.astype(np.float32))

    def _sample_age_gender(self, image: np.ndarray, found: list[Face], voter: AgeGenderVoter) -> None:
        assert self.age_gender is not None and self._face_finder is not None
        min_px, min_quality = self._face_finder.cfg.min_face_px, self.settings.attributes.age_gender_min_quality
        usable = [f for f in found if min(f.xyxy[2] - f.xyxy[0], f.xyxy[3] - f.xyxy[1]) >= min_px
                  and f.quality >= min_quality]
        if not usable:
            return
        best = max(usable, key=lambda f: f.quality)  # the person's own face, not a neighbour's behind them
        voter.add(self.age_gender.estimate(image, [best])[0], best.quality)

    def _sample_plate(
        self, frame: Frame, crop: np.ndarray, box: tuple[float, ...], track_id: int, state: _TrackState,
    ) -> Alert | None:
        assert self.plates is not None
        if (state.samples - 1) % self.cfg.plate_every or box[2] - box[0] < self.cfg.plate_min_width_px:
            return None
        reads = self.plates.read_scene(crop)
        if not reads:
            return None
        best = reads[0]
        state.plates.add(best.text, best.score, best.quality)
        return self._hotlist_alert(frame, box, best.text, best.score, track_id, state)

    def _hotlist_alert(
        self, frame: Frame, box: tuple[float, ...], text: str, score: float, track_id: int, state: _TrackState,
    ) -> Alert | None:
        entries = self.hotlist() if callable(self.hotlist) else self.hotlist
        if not entries or score < self.cfg.hotlist_min_score:
            return None
        plates = [e.plate for e in entries]
        hit = match_hotlist(text, plates, self.cfg.hotlist_max_edits, self.settings.plates.confusables)
        if hit is None or hit[0] in state.alerted:
            return None
        state.alerted.add(hit[0])
        entry = next(e for e in entries if e.plate == hit[0])
        return Alert(
            subject_id=entry.subject_id, subject_name=entry.name, kind="plate",
            score=round(score * (1.0 - 0.1 * hit[1]), 4), camera=self.camera.name, track_id=track_id,
            timestamp=frame.timestamp, frame_index=frame.index, xyxy=(box[0], box[1], box[2], box[3]),
            lat=self.camera.lat, lon=self.camera.lon,
        )

    def _save_thumbnail(self, track: Track, state: _TrackState) -> str | None:
        if state.best_crop is None:
            return None
        day = datetime.fromtimestamp(track.first_seen, UTC).strftime("%Y-%m-%d")
        folder = self.thumbnails_dir / day
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{int(track.first_seen * 1000)}-{track.track_id:06d}.jpg"
        return str(path) if cv2.imwrite(str(path), state.best_crop[1], [cv2.IMWRITE_JPEG_QUALITY, 88]) else None


def _crop(image: np.ndarray, box: Sequence[float]) -> np.ndarray | None:
    h, w = image.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(w, round(box[2])), min(h, round(box[3]))
    return image[y1:y2, x1:x2] if x2 - x1 >= 4 and y2 - y1 >= 4 else None


def _shrink(crop: np.ndarray, side: int) -> np.ndarray:
    scale = side / max(crop.shape[:2])
    if scale >= 1:
        return crop.copy()
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA)

