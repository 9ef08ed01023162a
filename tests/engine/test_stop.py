"""Stop-sequence and marker scanning on text that arrives piece by piece."""

from __future__ import annotations

import pytest
from slm_engine.stop import NeedleScanner, StopMatcher


def feed_all(scanner: NeedleScanner, pieces: list[str]) -> str:
    return "".join(scanner.feed(p) for p in pieces) + ("" if scanner.found else scanner.flush())


@pytest.mark.parametrize(
    "pieces",
    [["Hello STOP world"], ["Hello ST", "OP world"], ["Hello S", "T", "O", "P", " world"]],
)
def test_stop_found_across_pieces(pieces: list[str]) -> None:
    matcher = StopMatcher(["STOP"])
    assert feed_all(matcher, pieces) == "Hello "
    assert matcher.matched
    assert matcher.after == " world"


def test_partial_match_is_held_back_then_released() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("abc ST") == "abc "
    assert matcher.feed("ART") == "START"
    assert not matcher.matched
    assert matcher.feed("S") == ""
    assert matcher.flush() == "S"


def test_earliest_of_several_stops_wins() -> None:
    matcher = StopMatcher(["world", "lo w"])
    assert feed_all(matcher, ["hello world"]) == "hel"
    assert matcher.found == "lo w"


def test_no_stops_passes_everything_through() -> None:
    matcher = StopMatcher([])
    assert matcher.feed("abc") == "abc"
    assert matcher.flush() == ""


def test_text_after_a_match_is_swallowed() -> None:
    matcher = StopMatcher(["\n"])
    assert matcher.feed("line1\nline2") == "line1"
    assert matcher.feed("more") == ""
    assert matcher.after == "line2more"


def test_empty_and_duplicate_needles_are_ignored() -> None:
    scanner = NeedleScanner(["", "x", "x"])
    assert scanner.needles == ("x",)
