"""The golden comparison: token positions from text, the tolerance, and the file's validation."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_golden_compare import (
    compare,
    golden_problems,
    summary_line,
    tolerance_problems,
)

PIECES = ["The", " light", " is", " red", ",", " amber", " and", " green", "."]


def answer(pieces=None, finish="length"):
    pieces = PIECES if pieces is None else pieces
    return {"name": "colours", "messages": [{"role": "user", "content": "Colours?"}], "max_tokens": len(pieces),
            "token_ids": list(range(len(pieces))), "pieces": list(pieces), "text": "".join(pieces),
            "finish_reason": finish}


def test_the_same_text_is_identical() -> None:
    r = compare(answer(), "".join(PIECES))
    assert r["passed"] and r["identical"] and r["first_diff_token"] is None
    assert r["matched_tokens"] == r["total_tokens"] == 9 and r["reason"] == "identical (9 tokens)"


def test_the_first_differing_token_is_found_inside_a_token() -> None:
    r = compare(answer(), "The light is rad, amber and green.", min_exact_tokens=8, min_prefix_ratio=0.5)
    assert r["first_diff_token"] == 3 and r["matched_tokens"] == 3 and not r["passed"]
    assert r["expected"] == " red, amber and green." and r["got"] == " rad, amber and green."
    assert "differs from token 3 of 9" in r["reason"] and "outside tolerance" in r["reason"]


def test_a_late_flip_passes_within_the_tolerance_and_an_early_one_fails() -> None:
    late = "The light is red, amber and blue!"  # differs at token 7 of 9
    assert compare(answer(), late, min_exact_tokens=4, min_prefix_ratio=0.5)["passed"]
    assert not compare(answer(), late, min_exact_tokens=4, min_prefix_ratio=0.9)["passed"]
    assert not compare(answer(), late, min_exact_tokens=8, min_prefix_ratio=0.5)["passed"]
    r = compare(answer(), "A light is red, amber and green.", min_exact_tokens=0, min_prefix_ratio=0.5)
    assert r["first_diff_token"] == 0 and not r["passed"], "an answer wrong from its first token never passes"


def test_exact_tokens_are_capped_at_the_answer_length() -> None:
    short = answer(["Hi", "!"])
    assert compare(short, "Hi?", min_exact_tokens=1, min_prefix_ratio=0.5)["passed"]
    assert not compare(short, "Ho", min_exact_tokens=8, min_prefix_ratio=0.0)["passed"]


def test_a_recorded_end_of_sequence_is_one_token() -> None:
    ended = answer(PIECES, finish="stop")
    assert compare(ended, "".join(PIECES))["identical"]
    r = compare(ended, "".join(PIECES) + " Then")
    assert r["total_tokens"] == 10 and r["first_diff_token"] == 9 and r["expected"] == "<end of sequence>"
    assert r["got"] == " Then"


def test_a_shorter_reply_differs_where_it_ends() -> None:
    r = compare(answer(), "The light is")
    assert r["first_diff_token"] == 3 and r["got"] == "<end of reply>"


def test_a_partial_multibyte_token_counts_only_with_the_character() -> None:
    pieces = ["Caf", "", "é", " au", " lait"]  # 'é' streamed after its second byte
    assert compare(answer(pieces), "Café au lait")["identical"]
    r = compare(answer(pieces), "Cafè au lait", min_exact_tokens=0, min_prefix_ratio=0.0)
    assert r["first_diff_token"] == 1, "the empty piece belongs to the character that differs"


def test_summary_names_failing_answers() -> None:
    results = [dict(compare(answer(), "".join(PIECES)), name="a"), dict(compare(answer(), "No"), name="b")]
    line = summary_line(results)
    assert line.startswith("1/2 golden answers reproduced; failing: b: differs from token 0 of 9")


def test_a_valid_file_has_no_problems_and_broken_ones_are_named() -> None:
    doc = {"schema": 1, "answers": [answer()]}
    assert golden_problems(doc) == []
    assert golden_problems([]) == ["the golden file must hold a JSON object, got list"]
    assert "answers must be a non-empty list" in golden_problems({"schema": 1, "answers": []})
    bad = copy.deepcopy(doc)
    bad["schema"] = 2
    bad["answers"][0]["text"] = "changed"
    bad["answers"][0]["max_tokens"] = 0
    problems = golden_problems(bad)
    assert "schema is 2, this collection reads schema 1" in problems
    assert "answers[0] (colours): text is not the concatenation of pieces" in problems
    assert "answers[0] (colours): max_tokens must be an integer >= 1, got 0" in problems
    short_ids = copy.deepcopy(doc)
    short_ids["answers"][0]["token_ids"] = [1]
    assert golden_problems(short_ids) == ["answers[0] (colours): token_ids must be a list as long as pieces"]


@pytest.mark.parametrize("exact, ratio", [(-1, 0.5), (8, 1.5), (8, -0.1)])
def test_bad_tolerances_are_refused(exact, ratio) -> None:
    assert tolerance_problems(exact, ratio)
    assert tolerance_problems(8, 0.5) == []
