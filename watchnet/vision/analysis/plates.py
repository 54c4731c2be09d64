"""Licence plates: find and read them in scenes, vehicle crops and plate crops; normalise; vote; hotlist.

Localisation uses the PP-OCR text detector rather than a plate detector (no plate detector ships in a
registry package we can fetch): every text line whose shape is plate-like is read, and only reads that fit
a configured plate format count. That rejects most scene text (signs, badges, dealer stickers: often
lower-case or letters only) for the price of a recognition call per text line.

Normalisation works per country: a read is cleaned, then fitted to the configured formats with the fewest
"edits" (a confusable swapped where the format needs a digit or a letter, or a stray edge character such
as a plate-border stroke dropped). Only a country-specific format can say which of O and 0 is right, so a
deployment lists the formats it expects before the generic one (see ``PlatesConfig``).
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations, product
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from watchnet.core.config import CameraConfig, PlatesConfig
from watchnet.core.errors import InputError
from watchnet.core.plate_text import PLATE_CHARS, clean_plate_text
from watchnet.vision.models.ocr import (
    REC_HEIGHT,
    AngleClassifier,
    TextBox,
    TextDetector,
    TextRead,
    TextRecognizer,
    crop_quad,
)

if TYPE_CHECKING:
    from watchnet.core.config import Settings

_CJK = re.compile(r"[\u4e00-\u9fff]")
_INNER_DROP = 2  # edits one dropped inner character costs
_OVERLAP = 0.5  # share of the smaller box two candidates must share to be the same plate


@dataclass(frozen=True, slots=True)
class PlateText:
    """A read that fits a plate format: the corrected text, the country whose format it fits, edits made."""

    text: str
    country: str
    edits: int


class PlateNormaliser:
    """Fits cleaned reads to the configured country formats, swapping confusables where a format demands."""

    def __init__(self, config: PlatesConfig) -> None:
        self.config = config
        formats = config.all_formats()
        self.patterns = [
            (country, re.compile("|".join(f"(?:{p})" for p in formats[country]))) for country in config.countries
        ]
        twins: dict[str, list[str]] = defaultdict(list)
        for letter, digit in config.confusables.items():
            twins[letter.upper()].append(digit)
            twins[digit].append(letter.upper())
        self.twins = dict(twins)
        self.rank = {country: i for i, country in enumerate(config.countries)}
        self.prior = dict(config.lead_prior)

        #: CJK characters that can open a plate (provinces): the recogniser reports the likeliest of them
        #: at the start of a line, because on tight crops it drops or misreads that narrow first glyph.
        self.lead_chars = "".join(
            dict.fromkeys(ch for _, p in self.patterns for ch in _first_class(p.pattern) if _CJK.match(ch))
        )

    def __call__(self, raw: str, lead: str = "", char_scores: Sequence[float] = ()) -> PlateText | None:
        """The plate in ``raw``, or None when no configured format fits within ``max_edits``.

        With ``lead`` (a likely first character the recogniser did not emit), the read with ``lead``
        put in front of it, or in place of its first character, is also tried, at one edit more; the
        earliest country in ``countries`` wins, then the fewest edits. With ``char_scores`` (the
        recogniser's probability per character of ``raw``) a character read surer than
        ``edit_max_confidence`` is never swapped or dropped: "WA56660" read at 1.00 throughout stays a
        Polish plate at a Slovak camera instead of being bent into "WA566GO".
        """
        text = clean_plate_text(raw)
        conf = _clean_scores(raw, char_scores, len(text))
        if lead and self.prior and text[:1] in self.lead_chars and text[:1] != lead:
            text = lead + text[1:]  # the recogniser's first glyph, re-weighted by the deployment's prior
        tries = [(text, conf, 0)]
        if lead and text[:1] not in self.lead_chars:
            tries += [(lead + text, (0.0, *conf), 1), (lead + text[1:], (0.0, *conf[1:]), 1)]
        fits = [f for f in (self._fit(t, c, extra) for t, c, extra in tries) if f is not None]
        return min(fits, key=lambda f: (self.rank[f.country], f.edits)) if fits else None

    def _fit(self, text: str, conf: tuple[float, ...], extra: int) -> PlateText | None:
        if not self.config.min_chars <= len(text) <= self.config.max_chars + 2:
            return None
        free = tuple(c <= self.config.edit_max_confidence for c in conf)
        for country, pattern in self.patterns:
            for edits in range(self.config.max_edits + 1):
                for candidate in self._variants(text, free, edits):
                    if pattern.fullmatch(candidate):
                        return PlateText(candidate, country, edits + extra)
        return None

    def _variants(self, text: str, free: tuple[bool, ...], edits: int) -> Iterator[str]:
        """Every string ``edits`` away from ``text`` changing only ``free`` characters: swaps first, then a
        dropped first/last character, then (at two edits) a dropped inner one.

        A CJK character is never dropped: it is a province, not a stray border stroke.
        """
        for trims in range(min(edits, 2) + 1):
            for left in range(trims + 1):
                right = trims - left
                if left > 1 or right > 1 or (left and _CJK.match(text[0])) or (right and _CJK.match(text[-1])):
                    continue
                if (left and not free[0]) or (right and not free[-1]):
                    continue
                core = text[left : len(text) - right]
                if len(core) < self.config.min_chars or len(core) > self.config.max_chars:
                    continue
                yield from self._swaps(core, free[left : len(text) - right], edits - trims)
        if self.config.drop_inner and edits >= _INNER_DROP:
            # An emblem or seal between groups read as a character (a Slovak coat of arms as "3"): drop one
            # inner character, never a CJK one. It costs two edits: likelier misreads are tried first.
            for i in range(1, len(text) - 1):
                core = text[:i] + text[i + 1 :]
                fits = self.config.min_chars <= len(core) <= self.config.max_chars
                if not free[i] or _CJK.match(text[i]) or not fits:
                    continue
                yield from self._swaps(core, free[:i] + free[i + 1 :], edits - _INNER_DROP)

    def _swaps(self, text: str, free: tuple[bool, ...], count: int) -> Iterator[str]:
        positions = [i for i, ch in enumerate(text) if ch in self.twins and free[i]]
        for chosen in combinations(positions, count):
            for replacement in product(*(self.twins[text[i]] for i in chosen)):
                chars = list(text)
                for i, ch in zip(chosen, replacement, strict=True):
                    chars[i] = ch
                yield "".join(chars)


def _clean_scores(raw: str, scores: Sequence[float], length: int) -> tuple[float, ...]:
    """Per-character scores of the cleaned text (0: unknown, so freely editable)."""
    kept = tuple(float(sc) for ch, sc in zip(raw, scores, strict=False) if PLATE_CHARS.fullmatch(ch.upper()))
    return kept if len(scores) == len(raw) and len(kept) == length else (0.0,) * length


def _first_class(pattern: str) -> str:
    """The characters of a pattern's leading ``[...]`` class(es), e.g. the provinces of the CN format."""
    return "".join(re.findall(r"(?:^|\|)\(\?:\[([^\]^]+)\]", pattern))


@dataclass(frozen=True, slots=True)
class PlateRead:
    """One plate found in a picture: normalised text, score in [0, 1], box in picture pixels.

    ``raw`` is what the recogniser read, ``country`` the format it fits, ``edits`` the corrections made,
    ``quality`` how much the picture of the plate is worth in a track's vote (``read_quality``), and
    ``confidence`` the calibrated probability that ``text`` is exactly right (``plates.calibration``).
    """

    text: str
    score: float
    xyxy: tuple[float, float, float, float]
    raw: str
    country: str
    edits: int = 0
    quality: float = 1.0
    confidence: float = 0.0


class PlateReader:
    """Finds and reads plates in scene photos, vehicle crops and plate crops."""

    def __init__(
        self,
        detector: TextDetector,
        recognizer: TextRecognizer,
        config: PlatesConfig,
        classifier: AngleClassifier | None = None,
    ) -> None:
        self.detector = detector
        self.recognizer = recognizer
        self.classifier = classifier
        self.config = config
        self.normalise = PlateNormaliser(config)

    @classmethod
    def from_settings(cls, settings: Settings) -> PlateReader:
        """Build the reader on models from the model store (``ppocr-det``, ``ppocr-rec``, ``ppocr-cls``)."""
        from watchnet.vision.models.runtime import create_session
        from watchnet.vision.models.store import ModelStore

        store, cfg = ModelStore(settings), settings.plates
        det = TextDetector(
            create_session(store.path("ppocr-det"), settings.runtime),
            max_side=cfg.det_limit_side,
            min_side=cfg.det_min_side,
            box_thresh=cfg.det_box_thresh,
            unclip_ratio=cfg.det_unclip_ratio,
        )
        rec = TextRecognizer(create_session(store.path("ppocr-rec"), settings.runtime), settings.runtime.batch_size)
        turn = None
        if cfg.use_cls:
            turn = AngleClassifier(create_session(store.path("ppocr-cls"), settings.runtime))
        return cls(det, rec, cfg, turn)

    def for_countries(self, countries: Sequence[str] | None) -> PlateReader:
        """The same models with another format set (a camera's own countries); self when None or unchanged.

        A camera at a Chinese toll gate lists only ``cn``: fewer formats to fit, and no European reading of
        an ambiguous line can win over the Chinese one.
        """
        if not countries or list(countries) == self.config.countries:
            return self
        config = self.config.model_validate({**self.config.model_dump(), "countries": list(countries)})
        return PlateReader(self.detector, self.recognizer, config, self.classifier)

    def for_camera(self, camera: CameraConfig) -> PlateReader:
        """The reader for one camera: its ``plate_countries`` when set, else the global ``plates.countries``."""
        return self.for_countries(camera.plate_countries)

    def is_crop(self, image: np.ndarray) -> bool:
        """Whether a picture looks like a plate crop (plate-shaped or tiny) rather than a scene."""
        h, w = (int(n) for n in image.shape[:2])
        return w >= self.config.crop_min_aspect * h or max(h, w) <= self.config.crop_max_side

    def read(self, image: np.ndarray) -> list[PlateRead]:
        """Plates in a BGR picture, best first: one read of the whole picture if it is a crop."""
        if self.is_crop(image):
            found = self.read_crops([image])[0]
            return [found] if found else []
        return self.read_scene(image)

    def read_crops(self, crops: Sequence[np.ndarray]) -> list[PlateRead | None]:
        """Read each plate crop; None where nothing plate-like was read.

        A crop no wider than ``two_row_max_aspect`` heights with a clear gap between text rows is also read
        as two rows (top then bottom, joined): Chinese truck and trailer plates, many motorcycle plates. The
        read that fits the earliest country with the fewest edits wins, so a one-row plate stays one row.
        """
        splits = [split_rows(c, self.config) for c in crops]
        lines = [self._prepare(c) for c in crops]
        for rows in splits:
            if rows is not None:
                lines += [self._prepare(rows[0]), self._prepare(rows[1])]
        reads = self._recognise(lines)
        out: list[PlateRead | None] = []
        extra = len(crops)
        for i, crop in enumerate(crops):
            box = (0.0, 0.0, float(crop.shape[1]), float(crop.shape[0]))
            quality = read_quality(crop, self.config)
            candidates = [self._plate(reads[i], box, quality)]
            if splits[i] is not None:
                top, bottom = reads[extra], reads[extra + 1]
                extra += 2
                candidates.append(self._plate(_join_rows(top, bottom), box, quality))
            fits = [c for c in candidates if c is not None]
            rank = self.normalise.rank
            out.append(min(fits, key=lambda p: (rank[p.country], p.edits, -p.score)) if fits else None)
        return out

    def read_scene(self, image: np.ndarray) -> list[PlateRead]:
        """Plates in a scene photo or vehicle crop, best first, overlapping candidates resolved."""
        boxes = self.detector(image)
        quads = [b.quad for b in boxes if self._plate_shaped(b.quad)] + self._merged(boxes)
        crops = [crop_quad(image, q) for q in quads]
        reads = self._recognise(crops) if quads else []
        return self.select(quads, reads, [read_quality(c, self.config, q) for c, q in zip(crops, quads, strict=True)])

    def select(self, quads: Sequence[np.ndarray], reads: Sequence[TextRead],
               qualities: Sequence[float] | None = None) -> list[PlateRead]:
        """Plates among read text lines: plate formats only, no lower-case scene text, one read per plate."""
        found = []
        qualities = qualities if qualities is not None else [1.0] * len(quads)
        for quad, read, quality in zip(quads, reads, qualities, strict=True):
            if sum(c.islower() for c in read.text) >= 2:  # brand names, signs, watermarks
                continue
            x, y = quad[:, 0], quad[:, 1]
            plate = self._plate(read, (float(x.min()), float(y.min()), float(x.max()), float(y.max())), quality)
            if plate and (not self.config.scene_needs_digit or any(c.isdigit() for c in plate.text)):
                found.append(plate)
        return self._resolve(found)

    def _resolve(self, found: list[PlateRead]) -> list[PlateRead]:
        """One read per plate. Of overlapping reads (a merged line and its part) keep the one of the
        earliest country, then the fewest edits, then the longest, then the best scored."""
        rank = self.normalise.rank
        ranked = sorted(found, key=lambda p: (rank[p.country], p.edits, -len(p.text), -p.score))
        kept: list[PlateRead] = []
        for plate in ranked:
            if all(_overlap(plate.xyxy, k.xyxy) < _OVERLAP for k in kept):
                kept.append(plate)
        return sorted(kept, key=lambda p: p.score, reverse=True)

    def _prepare(self, crop: np.ndarray) -> np.ndarray:
        """Enlarge a small crop to the recogniser's height (cubic) and give it a replicated border."""
        h = crop.shape[0]
        if h < REC_HEIGHT:
            crop = cv2.resize(crop, None, fx=REC_HEIGHT / h, fy=REC_HEIGHT / h, interpolation=cv2.INTER_CUBIC)
        pad = round(self.config.crop_pad * crop.shape[0])
        return cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else crop

    def _recognise(self, crops: list[np.ndarray]) -> list[TextRead]:
        if self.classifier:
            crops = self.classifier.upright(crops)
        return self.recognizer(crops, self.normalise.lead_chars, self.normalise.prior)

    def _plate(self, read: TextRead, xyxy: tuple[float, float, float, float], quality: float = 1.0) -> PlateRead | None:
        fit = self.normalise(read.text, read.lead[0] if read.lead else "", read.char_scores)
        if fit is None:
            return None
        score = read.score * self.config.edit_penalty**fit.edits
        if score < self.config.min_score:
            return None
        points = np.asarray(self.config.calibration, np.float64).reshape(-1, 2)
        confidence = float(np.interp(score, points[:, 0], points[:, 1]))
        return PlateRead(fit.text, round(score, 4), xyxy, read.text, fit.country, fit.edits, round(quality, 4),
                         round(confidence, 4))

    def _plate_shaped(self, quad: np.ndarray) -> bool:
        width = float(np.linalg.norm(quad[1] - quad[0]))
        height = float(np.linalg.norm(quad[3] - quad[0]))
        return self.config.min_aspect <= width / max(height, 1.0) <= self.config.max_aspect

    def _merged(self, boxes: list[TextBox]) -> list[np.ndarray]:
        """Quads joining neighbouring boxes of one text line when one of them is too short to be a plate
        on its own: a plate the detector split at a wide gap ("VW" + "4X4-WP", a country band)."""
        if self.config.merge_gap <= 0:
            return []
        ordered = sorted(boxes, key=lambda b: b.xyxy[0])
        out = []
        for i, first in enumerate(ordered):
            for second in ordered[i + 1 :]:
                if self._plate_shaped(first.quad) and self._plate_shaped(second.quad):
                    continue
                left, right = first.xyxy, second.xyxy
                h0, h1 = left[3] - left[1], right[3] - right[1]
                same_line = abs((left[1] + left[3]) - (right[1] + right[3])) / 2 < 0.5 * max(h0, h1)
                near = -0.2 * h0 <= right[0] - left[2] <= self.config.merge_gap * h0
                if min(h0, h1) >= 0.6 * max(h0, h1) and same_line and near:
                    x0, y0 = left[0], min(left[1], right[1])
                    x1, y1 = right[2], max(left[3], right[3])
                    quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
                    if self._plate_shaped(quad):
                        out.append(quad)
        return out


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over the smaller box's area."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller if smaller > 0 else 0.0


def read_quality(crop: np.ndarray, config: PlatesConfig, quad: np.ndarray | None = None) -> float:
    """How much one plate picture is worth in a track's vote, in (0, 1]: sharp x large x frontal.

    Sharpness is the Laplacian variance against ``vote_sharp_ref``; size the crop height against
    ``vote_good_height_px``; frontal the ratio of the text box's shorter to longer side edge (a plate seen
    at an angle has one side nearer, taller). Each is capped at 1 and floored at 0.05, so no read counts
    for nothing.
    """
    if crop.size == 0:
        return 0.05
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    sharp = float(cv2.Laplacian(grey, cv2.CV_32F).var()) / config.vote_sharp_ref
    large = crop.shape[0] / config.vote_good_height_px
    frontal = 1.0
    if quad is not None:
        left, right = float(np.linalg.norm(quad[3] - quad[0])), float(np.linalg.norm(quad[2] - quad[1]))
        frontal = min(left, right) / max(left, right, 1e-6)
    return float(np.prod([min(max(v, 0.05), 1.0) for v in (sharp, large, frontal)]))


def split_rows(crop: np.ndarray, config: PlatesConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """The top and bottom text rows of a two-row plate crop, or None when it does not look like one.

    Looks for the calmest band of rows (least horizontal ink change) between ``two_row_band`` of the
    height; it must be much calmer than the text rows around it.
    """
    height, width = crop.shape[:2]
    if height < 12 or width > config.two_row_max_aspect * height:
        return None
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    ink = np.abs(np.diff(grey.astype(np.float32), axis=1)).mean(axis=1)
    ink = np.convolve(ink, np.ones(3, np.float32) / 3, mode="same")
    lo, hi = (round(f * height) for f in config.two_row_band)
    if hi - lo < 2:
        return None
    split = lo + int(np.argmin(ink[lo:hi]))
    above, below = ink[max(1, round(0.05 * height)) : split], ink[split + 1 : height - 1]
    if not len(above) or not len(below):
        return None
    text_level = min(float(np.percentile(above, 75)), float(np.percentile(below, 75)))
    if ink[split] > config.two_row_gap * text_level:
        return None
    return crop[:split], crop[split:]


def _join_rows(top: TextRead, bottom: TextRead) -> TextRead:
    """One line read from two rows: text joined top first, score the weaker row's (both must be right)."""
    return TextRead(top.text + bottom.text, min(top.score, bottom.score), top.char_scores + bottom.char_scores,
                    top.lead)


class PlateVoter:
    """Accumulates the plate reads of one track and votes them into one text.

    Reads of the most common length (weighted by score x picture quality) are aligned position by position
    and each position takes the weighted majority character, so one bad frame (motion blur, a glare on one
    character, a small, slanted plate far away) cannot change the result. Confidence = share of weight
    behind the majority length x mean per-position agreement x quality-weighted mean score of those reads:
    a single read keeps its own score.
    """

    def __init__(self, window: int = 20) -> None:
        self.reads: deque[tuple[str, float, float]] = deque(maxlen=window)

    @classmethod
    def from_config(cls, config: PlatesConfig) -> PlateVoter:
        return cls(config.vote_window)

    def add(self, text: str, score: float, quality: float = 1.0) -> None:
        """Add one (normalised) read with its picture quality (``read_quality``); empty reads and
        non-positive scores are ignored."""
        if text and score > 0:
            self.reads.append((text, float(score), max(float(quality), 1e-3)))

    def __len__(self) -> int:
        return len(self.reads)

    def result(self) -> tuple[str, float] | None:
        """The track's plate text and confidence in [0, 1], or None before any read."""
        if not self.reads:
            return None
        by_length: dict[int, float] = defaultdict(float)
        for text, score, quality in self.reads:
            by_length[len(text)] += score * quality
        length = max(by_length, key=lambda n: (by_length[n], n))
        aligned = [(t, s, q) for t, s, q in self.reads if len(t) == length]
        weight = by_length[length]
        chars, agreement = [], []
        for i in range(length):
            votes: dict[str, float] = defaultdict(float)
            for text, score, quality in aligned:
                votes[text[i]] += score * quality
            char, best = max(votes.items(), key=lambda kv: kv[1])
            chars.append(char)
            agreement.append(best / weight)
        mean_score = sum(s * q for _, s, q in aligned) / sum(q for _, _, q in aligned)
        confidence = weight / sum(by_length.values()) * float(np.mean(agreement)) * mean_score
        return "".join(chars), round(min(confidence, 1.0), 4)


def load_image(path: str | Path) -> np.ndarray:
    """Decode an image file to BGR; raises InputError saying what to give instead when it is not an image."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such file; give the path of a JPEG or PNG photo or plate crop")
    image = cv2.imdecode(np.fromfile(str(file), np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise InputError(f"{file}: not a readable image; give a JPEG, PNG, BMP or WebP photo or plate crop")
    return image
