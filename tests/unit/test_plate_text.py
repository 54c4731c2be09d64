"""Plate text: cleaning, per-country confusable correction, track voting, hotlist matching (no models)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from watchnet.core.config import PlatesConfig
from watchnet.core.errors import InputError
from watchnet.core.plate_text import clean_plate_text, edit_distance, fold_confusables, match_hotlist
from watchnet.vision.analysis.plates import PlateNormaliser, PlateVoter, load_image


def test_clean_keeps_letters_digits_and_cjk_only() -> None:
    assert clean_plate_text("rk-099 an") == "RK099AN"
    assert clean_plate_text("W=053011") == "W053011"
    assert clean_plate_text("1T4:3213") == "1T43213"
    assert clean_plate_text("皖A·05279") == "皖A05279"
    # an emblem read as a subscript digit is dropped, not folded into a real "5"
    assert clean_plate_text("TS₅260AK") == "TS260AK"


@pytest.mark.parametrize(
    ("raw", "plate", "edits"),
    [
        ("LM-298A1", "LM298AI", 1),  # 1 where the Slovak format needs a letter
        ("PP-587A0", "PP587AO", 1),  # 0 -> O
        ("RK-O99AN", "RK099AN", 1),  # O -> 0 where it needs a digit
        ("R K 8 2 8 A G", "RK828AG", 0),
        ("RRK-828AG", "RK828AG", 1),  # a stray border stroke read as a first letter is dropped
        ("BA-I2S-CD", "BA125CD", 2),
    ],
)
def test_country_format_fixes_confusables_by_position(raw: str, plate: str, edits: int) -> None:
    normalise = PlateNormaliser(PlatesConfig(countries=["sk", "eu"]))
    fit = normalise(raw)
    assert fit is not None
    assert (fit.text, fit.country, fit.edits) == (plate, "sk", edits)


def test_generic_format_changes_nothing() -> None:
    normalise = PlateNormaliser(PlatesConfig(countries=["eu"]))
    for raw, plate in [("WA56660", "WA56660"), ("LM-298A1", "LM298A1"), ("G.WAGEN", "GWAGEN")]:
        fit = normalise(raw)
        assert fit is not None and (fit.text, fit.edits) == (plate, 0)
    assert normalise("79B") is None  # too short
    assert normalise("ABCDEFGHIJKL") is None  # too long even after dropping the edge characters


def test_chinese_format_letters_and_province() -> None:
    normalise = PlateNormaliser(PlatesConfig(countries=["cn"]))
    fit = normalise("皖AKKI23")  # no I or O on Chinese plates: they must be 1 and 0
    assert fit is not None and fit.text == "皖AKK123"
    fit = normalise("皖AHOV90")
    assert fit is not None and fit.text == "皖AH0V90"
    assert normalise("A05279") is None  # the province character is part of the format
    assert normalise("京PL3N67") is not None
    assert "皖" in normalise.lead_chars and "京" in normalise.lead_chars


def test_recogniser_lead_character_recovers_the_province() -> None:
    normalise = PlateNormaliser(PlatesConfig(countries=["cn"]))
    inserted = normalise("A·05279", lead="皖")  # the province glyph was dropped
    assert inserted is not None and (inserted.text, inserted.edits) == ("皖A05279", 1)
    replaced = normalise("MA-0H627", lead="皖")  # ... or misread as a Latin letter
    assert replaced is not None and replaced.text == "皖A0H627"
    # a read that already starts with a province keeps it
    kept = normalise("浙D335DZ", lead="皖")
    assert kept is not None and kept.text == "浙D335DZ"


def test_province_is_never_dropped_to_fit_an_earlier_country() -> None:
    fit = PlateNormaliser(PlatesConfig(countries=["eu", "cn"]))("皖A05279")
    assert fit is not None and (fit.text, fit.country) == ("皖A05279", "cn")


def test_config_rejects_unknown_country_and_bad_pattern() -> None:
    with pytest.raises(ValidationError, match=r"not in plates\.formats"):
        PlatesConfig(countries=["xx"])
    with pytest.raises(ValidationError, match="bad pattern"):
        PlatesConfig(formats={"eu": ["[A-Z"]}, countries=["eu"])


def test_voting_over_noisy_reads_gives_the_plate() -> None:
    voter = PlateVoter(window=20)
    for text, score in [
        ("RK099AN", 0.95),
        ("RK099AM", 0.60),  # one character misread
        ("RKO99AN", 0.70),  # a confusable
        ("RK09AN", 0.90),  # a character lost: different length, outvoted
        ("RK099AN", 0.92),
        ("8K099AN", 0.55),
        ("RK099AN", 0.88),
    ]:
        voter.add(text, score)
    result = voter.result()
    assert result is not None
    text, confidence = result
    assert text == "RK099AN"
    assert 0.5 < confidence < 0.95


def test_voter_single_read_empty_and_window() -> None:
    voter = PlateVoter(window=3)
    assert voter.result() is None
    voter.add("", 0.9)
    voter.add("AB123CD", 0.0)
    assert voter.result() is None
    voter.add("AB123CD", 0.8)
    assert voter.result() == ("AB123CD", 0.8)
    for _ in range(3):
        voter.add("XY999ZZ", 0.9)
    assert len(voter) == 3
    assert voter.result() == ("XY999ZZ", 0.9)


def test_hotlist_fuzzy_match() -> None:
    hotlist = ["BA123CD", "RK099AN", "RK099AM"]
    assert match_hotlist("RK-O99 AN", hotlist) == ("RK099AN", 0)  # confusables folded, separators dropped
    assert match_hotlist("RK099AX", hotlist) == ("RK099AN", 1)  # tie at distance 1: the earlier entry
    assert match_hotlist("RK09AN", hotlist) == ("RK099AN", 1)  # a lost character
    assert match_hotlist("ZZ999ZZ", hotlist) is None
    assert match_hotlist("RK099AX", hotlist, max_distance=0) is None
    assert match_hotlist("", hotlist) is None
    assert match_hotlist("皖A05279", ["皖A05279"]) == ("皖A05279", 0)


def test_fold_and_edit_distance() -> None:
    assert fold_confusables("rk-O99 an") == fold_confusables("RK099AN")
    assert edit_distance("RK099AN", "RK099AN") == 0
    assert edit_distance("RK099AN", "RK09AN") == 1
    assert edit_distance("", "ABC") == 3


def test_non_image_is_a_clear_input_error(tmp_path: Path) -> None:
    text = tmp_path / "plate.jpg"
    text.write_text("not a picture")
    with pytest.raises(InputError, match="not a readable image"):
        load_image(text)
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
