"""Named colours on synthetic patches: every palette colour, under shadows, mixed, and edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from watchnet.vision.analysis.colours import (
    PALETTE,
    SWATCH_BGR,
    build_table,
    classify_region,
    frame_levels,
    identity_levels,
    quantise,
    vote,
)

PATCH = 40


def swatch_frame() -> np.ndarray:
    """One 60 x 40 patch of each palette colour side by side: a tiny 'scene' holding all of them."""
    frame = np.zeros((60, PATCH * len(PALETTE), 3), np.uint8)
    for i, name in enumerate(PALETTE):
        frame[:, i * PATCH:(i + 1) * PATCH] = SWATCH_BGR[name]
    return frame


def patch(frame: np.ndarray, name: str) -> np.ndarray:
    i = PALETTE.index(name)
    return frame[:, i * PATCH:(i + 1) * PATCH]


def linear_light_half(image: np.ndarray) -> np.ndarray:
    """Half the light (what a shadow does), applied in linear RGB and encoded back to sRGB-ish."""
    lin = (image.astype(np.float32) / 255.0) ** 2.2 * 0.5
    return np.clip(lin ** (1 / 2.2) * 255.0 + 0.5, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", PALETTE)
def test_uniform_patch_is_named(name: str) -> None:
    res = classify_region(patch(swatch_frame(), name))
    assert res.name == name
    assert res.confidence == pytest.approx(1.0)


@pytest.mark.parametrize("name", PALETTE)
def test_frame_at_half_brightness_names_the_same_after_levels(name: str) -> None:
    """A cloud, dusk or a darker camera: the whole frame at 50 % brightness (pixel values halved)."""
    dark = (swatch_frame() // 2).astype(np.uint8)
    res = classify_region(patch(dark, name), frame_levels(dark))
    assert res.name == name


HUE_DEFINED = ["black", "grey", "red", "orange", "yellow", "green", "blue", "purple", "brown", "beige"]


@pytest.mark.parametrize("name", HUE_DEFINED)
def test_local_shadow_keeps_hue_defined_names(name: str) -> None:
    """Half the light on the patch only (the rest of the frame lit): no frame correction can help, the
    hue and relative chroma must carry it. White (-> light grey) and pink (-> red) are left out on
    purpose: in shade they really look like that, and a pixel rule cannot know better."""
    shaded = linear_light_half(patch(swatch_frame(), name))
    assert classify_region(shaded, frame_levels(swatch_frame())).name == name


def test_levels_leave_a_well_exposed_frame_alone() -> None:
    assert np.array_equal(frame_levels(swatch_frame()), identity_levels())


def test_levels_gain_is_capped_on_a_black_frame() -> None:
    curve = frame_levels(np.zeros((100, 100, 3), np.uint8))
    assert int(curve[100, 0]) == 250  # at most 2.5x: a night frame is not blown up into noise


def test_mixed_region_votes_by_share() -> None:
    region = np.zeros((40, 40, 3), np.uint8)
    region[:28] = SWATCH_BGR["red"]
    region[28:] = SWATCH_BGR["blue"]
    res = classify_region(region)
    assert res.top(2) == ["red", "blue"]
    assert res.confidence == pytest.approx(0.7, abs=0.03)


def test_weights_change_the_vote() -> None:
    idx = quantise(np.array([SWATCH_BGR["red"]] * 10 + [SWATCH_BGR["green"]] * 20, np.uint8))
    weights = np.array([1.0] * 10 + [0.2] * 20)
    assert vote(idx, weights=weights).name == "red"
    assert vote(idx).name == "green"


def test_too_few_pixels_say_nothing() -> None:
    res = classify_region(np.full((2, 3, 3), 128, np.uint8))
    assert res.name is None and res.confidence == 0.0


def test_palette_without_beige_folds_it() -> None:
    palette = tuple(n for n in PALETTE if n != "beige")
    res = classify_region(patch(swatch_frame(), "beige"), palette=palette)
    assert res.name in {"white", "brown"}
    with pytest.raises(ValueError, match="missing"):
        build_table(("black", "white"))


def test_glossy_table_keeps_sky_tinted_silver_grey() -> None:
    silver = np.full((20, 20, 3), (155, 127, 108), np.uint8)  # grey with the blue cast of a mirrored sky
    assert classify_region(silver).name == "blue"
    assert classify_region(silver, glossy=True).name == "grey"
