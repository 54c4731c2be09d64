"""Plate formats as data, confidence-gated edits, quality-weighted votes, calibrated confidence."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from watchnet.core.config import PlatesConfig
from watchnet.vision.analysis.plates import PlateNormaliser, PlateVoter, read_quality


def test_us_states_fix_confusables_where_the_state_format_demands() -> None:
    normalise = PlateNormaliser(PlatesConfig(countries=["us", "us-vanity"]))
    fit = normalise("7ABCI23")  # California: digit, 3 letters, 3 digits
    assert fit is not None and (fit.text, fit.country, fit.edits) == ("7ABC123", "us", 1)
    vanity = normalise("GOBLUE", char_scores=[0.99] * 6)  # read surely: a vanity plate, not G08LUE
    assert vanity is not None and (vanity.text, vanity.country) == ("GOBLUE", "us-vanity")


def test_sure_characters_are_never_bent_to_fit_an_earlier_country() -> None:
    normalise = PlateNormaliser(PlatesConfig(countries=["sk", "eu"]))
    unsure = normalise("WA56660")  # no scores: every character may be a misread -> Slovak WA566GO
    sure = normalise("WA56660", char_scores=[1.0] * 7)  # read at 1.00 throughout: a Polish plate
    assert unsure is not None and unsure.country == "sk"
    assert sure is not None and (sure.text, sure.country) == ("WA56660", "eu")


def test_an_emblem_read_as_a_character_is_dropped() -> None:
    normalise = PlateNormaliser(PlatesConfig(countries=["sk", "eu"]))
    scores = [0.99, 1.0, 0.31, 1.0, 1.0, 1.0, 1.0, 1.0]  # the Slovak coat of arms read as a faint "3"
    fit = normalise("RK3346AL", char_scores=scores)
    assert fit is not None and (fit.text, fit.country) == ("RK346AL", "sk")
    no_drop = PlateNormaliser(PlatesConfig(countries=["sk", "eu"], drop_inner=False))("RK3346AL", char_scores=scores)
    assert no_drop is not None and no_drop.text == "RK3346AL"


def test_sharp_large_frontal_reads_outvote_poor_ones() -> None:
    config = PlatesConfig()
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, (40, 160, 3), dtype=np.uint8)
    blurred = np.full((10, 40, 3), 128, np.uint8)
    assert read_quality(sharp, config) == pytest.approx(1.0)
    assert read_quality(blurred, config) < 0.05  # flat (floor 0.05) x 10 px of 24
    slanted = np.array([[0, 0], [160, 20], [160, 40], [0, 80]], np.float32)
    assert read_quality(sharp, config, slanted) == pytest.approx(0.25, abs=0.01)
    voter = PlateVoter()
    for _ in range(3):
        voter.add("RK099AM", 0.9, quality=0.05)  # far away, blurred
    voter.add("RK099AN", 0.8, quality=1.0)
    result = voter.result()
    assert result is not None and result[0] == "RK099AN"


def test_calibration_must_rise() -> None:
    assert PlatesConfig().calibration[0][0] < PlatesConfig().calibration[-1][0]
    with pytest.raises(ValidationError, match="calibration"):
        PlatesConfig(calibration=[(0.5, 0.9), (0.9, 0.2)])
