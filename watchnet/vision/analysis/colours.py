"""Named colours of a pixel region: the fixed palette operators search with ("red top, blue jeans").

Why a rule table and not a learned model: there is no colour-labelled training data we may ship, the
palette is small and fixed, and operators must be able to predict what "grey" or "brown" means. The
rules live in CIELAB (perceptual: lightness L, chroma C, hue angle h), where "is it a colour at all"
is a chroma test and "which colour" is mostly a hue test, both far less sensitive to shading than RGB.

Why a lookup table: this runs once per detection per region on the hot path. Each pixel's BGR is
quantised to 32 levels per channel and looked up in a 32768-entry table of palette indices built once
from the Lab rules, so a region costs a resize, one table lookup and one ``bincount`` (tens of
microseconds) instead of a colour-space conversion.

Illumination: ``frame_levels`` measures the frame's white point and returns a tone curve; applied
before the lookup it discounts under-exposure (a frame at half brightness names the same colours as
the original). A local shadow cannot be told apart from a darker surface by pixels alone: colours
defined by hue keep their name under it (the rules use hue, and chroma relative to lightness), but
white in deep shade genuinely looks grey and pink looks red; see the tests.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

#: Every colour name watchnet can output, in table order. ``beige`` is optional (see ``build_table``).
PALETTE: tuple[str, ...] = (
    "black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "beige",
)
#: Names a palette must always contain: the colours operators use everywhere.
REQUIRED: frozenset[str] = frozenset(PALETTE[:-1])
ACHROMATIC: frozenset[str] = frozenset({"black", "white", "grey"})
#: A typical BGR value of each name: swatches for the dashboard, and the tests' reference patches.
SWATCH_BGR: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 20), "white": (245, 245, 245), "grey": (128, 128, 128), "red": (30, 30, 200),
    "orange": (0, 140, 255), "yellow": (20, 220, 240), "green": (50, 150, 30), "blue": (200, 60, 30),
    "purple": (160, 40, 120), "pink": (190, 160, 250), "brown": (30, 70, 120), "beige": (170, 205, 225),
}

_QUANT_SHIFT = 3  # 256 / 2**3 = 32 levels per channel
_LEVELS = 256 >> _QUANT_SHIFT

# --- the palette's definition (not deployment tunables: changing them changes what a name means) ---
_ACHROMATIC_C0 = 7.0  # chroma below C0 + k * L is a shade of grey
_ACHROMATIC_K = 0.09
_GLOSSY_COOL_FACTOR = 2.2  # on glossy paint, bluish greys (the sky mirrored) need this much more chroma
_BLACK_L = 30.0  # achromatic lightness below this is black, above _WHITE_L white
_WHITE_L = 72.0
# hue sectors in degrees of the Lab hue angle (a* = 0 deg, b* = 90 deg); red wraps round 0
_RED_END, _ORANGE_END, _YELLOW_END = 45.0, 75.0, 108.0
_GREEN_END, _BLUE_END, _PURPLE_END = 225.0, 305.0, 338.0  # teal and cyan count as green


@dataclass(frozen=True, slots=True)
class RegionColour:
    """The colours voted by a region's pixels, most pixels first, with each colour's share of them.

    ``name`` is None when too few usable pixels were left to say anything (tiny or fully masked region).
    """

    colours: tuple[tuple[str, float], ...]
    pixels: int

    @property
    def name(self) -> str | None:
        return self.colours[0][0] if self.colours else None

    @property
    def confidence(self) -> float:
        return self.colours[0][1] if self.colours else 0.0

    def top(self, k: int = 2) -> list[str]:
        return [name for name, _ in self.colours[:k]]


def name_lab(lab: np.ndarray, palette: tuple[str, ...] = PALETTE, glossy: bool = False) -> np.ndarray:
    """Palette index (into ``PALETTE``) of each Lab colour (..., 3), with L in 0..100 (OpenCV float Lab).

    Achromatic first (low chroma for its lightness), then the hue sector, then lightness and chroma
    inside the warm sectors, where brown/orange/beige and red/pink differ only in lightness.
    ``glossy`` is for car paint, which mirrors the sky: silver and white cars look faintly blue.
    """
    lab = np.asarray(lab, dtype=np.float32)
    lum, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    chroma = np.hypot(a, b)
    hue = np.degrees(np.arctan2(b, a)) % 360.0
    idx = {name: i for i, name in enumerate(PALETTE)}
    out = np.full(lum.shape, idx["grey"], dtype=np.uint8)

    def put(cond: np.ndarray, name: str) -> None:
        out[cond] = idx[name]

    cool = (hue >= _GREEN_END) & (hue < _BLUE_END)
    factor = np.where(cool, _GLOSSY_COOL_FACTOR, 1.0) if glossy else 1.0
    grey = chroma < (_ACHROMATIC_C0 + _ACHROMATIC_K * lum) * factor
    col = ~grey
    put(grey & (lum < _BLACK_L), "black")
    put(grey & (lum > _WHITE_L), "white")
    red = col & ((hue < _RED_END) | (hue >= _PURPLE_END))
    orange = col & (hue >= _RED_END) & (hue < _ORANGE_END)
    yellow = col & (hue >= _ORANGE_END) & (hue < _YELLOW_END)
    put(col & (hue >= _YELLOW_END) & (hue < _GREEN_END), "green")
    put(col & (hue >= _GREEN_END) & (hue < _BLUE_END), "blue")
    put(col & (hue >= _BLUE_END) & (hue < _PURPLE_END), "purple")
    # reds: light and not deeply saturated -> pink (a pink lit brightly; red paint stays below L ~55)
    pink = red & (lum >= 60.0) & ((hue >= _PURPLE_END) | (hue < 30.0))
    put(red & ~pink, "red")
    put(pink, "pink")
    # magenta-ish purples that are light read as pink
    put(col & (hue >= 325.0) & (hue < _PURPLE_END) & (lum >= 55.0), "pink")
    # warm hues: dark or weak -> brown, light and weak -> beige, else orange / yellow
    light_weak = (lum >= 62.0) & (chroma < 45.0)
    dark = (lum < 45.0) | (chroma < 0.55 * lum - 5.0)
    put(orange, "orange")
    put(orange & dark, "brown")
    put(yellow, "yellow")
    put(yellow & (lum < 55.0), "brown")
    put((orange | yellow) & light_weak, "beige")
    # weak orange-reds are browns (crimson and maroon stay red)
    put(red & ~pink & (chroma < 22.0) & (hue >= 25.0) & (hue < _RED_END), "brown")
    if "beige" not in palette:
        out[out == idx["beige"]] = np.where(lum[out == idx["beige"]] >= 75.0, idx["white"], idx["brown"])
    return out


@functools.lru_cache(maxsize=4)
def build_table(palette: tuple[str, ...] = PALETTE, glossy: bool = False) -> np.ndarray:
    """The 32x32x32 (B, G, R) table of palette indices, built once per palette from ``name_lab``."""
    unknown = set(palette) - set(PALETTE)
    missing = REQUIRED - set(palette)
    if unknown or missing:
        raise ValueError(f"palette must hold {sorted(REQUIRED)} (+ optional beige); "
                         f"unknown {sorted(unknown)}, missing {sorted(missing)}")
    step = 1 << _QUANT_SHIFT
    centres = (np.arange(_LEVELS, dtype=np.float32) * step + step // 2) / 255.0
    b, g, r = np.meshgrid(centres, centres, centres, indexing="ij")
    bgr = np.stack([b, g, r], axis=-1).reshape(1, -1, 3)
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab).reshape(_LEVELS, _LEVELS, _LEVELS, 3)
    table = name_lab(lab, palette, glossy)
    table.setflags(write=False)
    return table


@functools.lru_cache(maxsize=1)
def skin_table() -> np.ndarray:
    """32x32x32 (B, G, R) booleans: skin-toned, by the classic YCrCb box (Chai and Ngan).

    Used only to leave bare arms, legs and faces out of a clothing vote: skin is never a colour we
    report, and we never infer anything from it.
    """
    centres = np.arange(_LEVELS, dtype=np.uint8) * (1 << _QUANT_SHIFT) + (1 << (_QUANT_SHIFT - 1))
    b, g, r = np.meshgrid(centres, centres, centres, indexing="ij")
    bgr = np.stack([b, g, r], axis=-1).reshape(1, -1, 3)
    ycc = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb).reshape(-1, 3).astype(np.int16)
    y, cr, cb = ycc[:, 0], ycc[:, 1], ycc[:, 2]
    skin = (y > 50) & (cr >= 136) & (cr <= 173) & (cb >= 77) & (cb <= 127)
    out = skin.reshape(_LEVELS, _LEVELS, _LEVELS)
    out.setflags(write=False)
    return out


def frame_levels(
    frame_bgr: np.ndarray,
    percentile: float = 99.0,
    max_gain: float = 2.5,
    step: int = 8,
) -> np.ndarray:
    """Tone curve (256, 3) uint8 that undoes a frame's under-exposure: its bright end is put at white.

    Measured on every ``step``-th pixel (once per frame, shared by all its detections): one gain for
    all three channels, at most ``max_gain``, that maps the ``percentile`` of the frame's values to
    250. A dusk frame, a cloud or a darker camera then names colours as a well-exposed one would.

    Deliberately not done (measured worse on the bench's dev crops): per-channel white balance (from
    the brightest or from near-grey pixels) shifted hazy and sunlit scenes wrongly, and a black point
    crushed navy and dark brown clothing into black.
    """
    sample = np.ascontiguousarray(frame_bgr[::step, ::step]).reshape(-1)
    if sample.size == 0:
        return identity_levels()
    cdf = np.cumsum(np.bincount(sample, minlength=256))
    hi = float(np.searchsorted(cdf, sample.size * percentile / 100.0))
    gain = float(np.clip(250.0 / max(hi, 1.0), 1.0, max_gain))
    curve = np.clip(np.arange(256, dtype=np.float32) * gain, 0, 255).astype(np.uint8)
    return np.repeat(curve[:, None], 3, axis=1)


def identity_levels() -> np.ndarray:
    """The tone curve that changes nothing."""
    ramp = np.arange(256, dtype=np.uint8)[:, None]
    return np.repeat(ramp, 3, axis=1)


def quantise(pixels_bgr: np.ndarray, levels: np.ndarray | None = None) -> np.ndarray:
    """(N, 3) or (H, W, 3) uint8 BGR -> (N,) flat indices into the 32x32x32 tables."""
    px = np.asarray(pixels_bgr, dtype=np.uint8).reshape(-1, 3)
    if levels is not None:
        px = np.stack([levels[px[:, c], c] for c in range(3)], axis=1)
    q = (px >> _QUANT_SHIFT).astype(np.intp)
    return (q[:, 0] * _LEVELS + q[:, 1]) * _LEVELS + q[:, 2]


def vote(
    indices: np.ndarray,
    weights: np.ndarray | None = None,
    palette: tuple[str, ...] = PALETTE,
    min_pixels: int = 12,
    glossy: bool = False,
) -> RegionColour:
    """Name each quantised pixel and vote; a colour's confidence is its (weighted) share of the pixels."""
    if indices.size < min_pixels:
        return RegionColour((), int(indices.size))
    names = build_table(palette, glossy).reshape(-1)[indices]
    counts = np.bincount(names, weights=weights, minlength=len(PALETTE)).astype(np.float64)
    total = counts.sum()
    if total <= 0:
        return RegionColour((), int(indices.size))
    order = np.argsort(-counts, kind="stable")
    colours = tuple((PALETTE[i], float(counts[i] / total)) for i in order if counts[i] > 0)
    return RegionColour(colours, int(indices.size))


def classify_region(
    region_bgr: np.ndarray,
    levels: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    palette: tuple[str, ...] = PALETTE,
    max_side: int = 32,
    glossy: bool = False,
) -> RegionColour:
    """Dominant colours of an image region (optionally only where ``mask`` is true).

    The region is first shrunk (area average) so its longer side is at most ``max_side``: colour
    votes need hundreds of pixels, not thousands, and averaging also removes texture and noise.
    """
    region = shrink(region_bgr, max_side)
    idx = quantise(region, levels)
    if mask is not None:
        small = cv2.resize(mask.astype(np.uint8), (region.shape[1], region.shape[0]),
                           interpolation=cv2.INTER_NEAREST)
        idx = idx[small.reshape(-1) > 0]
    return vote(idx, palette=palette, glossy=glossy)


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    """Area-average an image down so its longer side is at most ``max_side`` (never enlarges).

    Very large crops (a car filling a 4 Mpx photo) are first decimated by striding to about eight
    times the target, so the cost stays flat however big the box is.
    """
    step = max(image.shape[:2]) // (8 * max_side)
    if step > 1:
        image = image[::step, ::step]
    h, w = image.shape[:2]
    scale = max_side / max(h, w, 1)
    if scale >= 1.0:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
