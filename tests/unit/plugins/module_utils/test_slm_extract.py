"""Final-answer extraction: phrasings that must pass and phrasings that must fail.

Each case is (expected value, unit, reply). PASS cases must extract the expected value; FAIL cases
must extract something else (or nothing). The replies imitate what Phi-4-mini and similar small
models write: step-by-step working with intermediate numbers, Markdown, LaTeX, self-corrections.
"""

from __future__ import annotations

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_extract import (
    extract_final,
    find_mentions,
    format_quantity,
    normalize,
)

TRAIN_WORK = (
    "Step 1: Original speed = 240 km / 3 h = 80 km/h.\n"
    "Step 2: New speed = 80 km/h + 20 km/h = 100 km/h.\n"
    "Step 3: Time = 240 km / 100 km/h = "
)

PASS = [
    # --- train: 2.4 h -----------------------------------------------------------------------
    (2.4, "h", "The journey would take 2.4 hours."),
    (2.4, "h", "It would take 2 hours 24 minutes."),
    (2.4, "h", "It would take 2 hours and 24 minutes."),
    (2.4, "h", "It would take 2h 24m."),
    (2.4, "h", "It would take 2:24 hours."),
    (2.4, "h", "The journey now takes 144 minutes."),
    (2.4, "h", TRAIN_WORK + "2.4 hours."),
    (2.4, "h", TRAIN_WORK + "2.4 h\n\n**Final Answer:** 2.4 hours"),
    (2.4, "h", TRAIN_WORK + "2.4\n\nThe journey would take 2.4 hours (2 hours and 24 minutes)."),
    (2.4, "h", "Final answer:\n2.4 hours"),
    (2.4, "h", "### Answer\nThe answer is **2.4 hours**."),
    (2.4, "h", "The time is $\\boxed{2.4 \\text{ hours}}$."),
    (2.4, "h", "\\[ t = \\frac{240}{100} = \\boxed{2.4} \\]"),
    (2.4, "h", "\\[ t = \\frac{240}{100} \\] so $t = 2.4$ hours."),
    (2.4, "h", "t = \\frac{12}{5} hours, i.e. the final answer is \\frac{12}{5}."),
    (2.4, "h", "Therefore, the journey would take 2.4 hours. So the train saves 36 minutes."),
    (2.4, "h", "Thus it takes 2.4 hours, which is 0.6 hours less than before."),
    (2.4, "h", "So it takes 0.6 hours less, i.e. 2.4 hours."),
    (2.4, "h", "The new time is 2.4 hours. So, the train saves 0.6 hours."),
    (2.4, "h", "Speed rises from 80 to 100 km/h; hence the time drops from 3 to 2.4 hours."),
    (2.4, "h", "It would no longer take 3 hours; it would take 2.4 hours."),
    (2.4, "h", "The journey takes 2.4 hours instead of 3 hours."),
    (2.4, "h", "The journey takes 2.4 hours, not 3 hours."),
    (2.4, "h", "Without the speed increase it would take 3 hours; with it, 2.4 hours."),
    (2.4, "h", "3 hours is incorrect; the right answer is 2.4 hours."),
    (2.4, "h", "The answer is 3 hours. Wait, that's wrong: at 100 km/h it takes 240/100 = 2.4 hours."),
    (2.4, "h", "So the time is 3 hours. Let me recalculate: 240 / 100 = 2.4, so 2.4 hours."),
    (2.4, "h", "There is no doubt: it takes 2.4 hours"),
    (2.4, "h", "The journey takes *2.4 hours*."),
    (2.4, "h", "A 2.4-hour journey."),
    (2.4, "h", "Answer: 2.4"),
    (2.4, "h", "The new time ≈ 2.4 hours."),
    (2.4, "h", "<think>maybe 3 hours</think>The journey takes 2.4 hours."),
    # --- compound interest: $5,955.08 ------------------------------------------------------------
    (5955.08, "USD", "So the final amount is $5,955.08 after 3 years."),
    (5955.08, "USD", "A = 5000(1 + 0.06)^3 = 5000 × 1.191016 = $5,955.08"),
    (5955.08, "USD", "A = P(1 + r)^n = 5000 * 1.06^3 = 5955.08"),
    (5955.08, "USD", "The final amount will be approximately \\$5955.08."),
    (5955.08, "USD", "The final amount is 5,955.08 dollars."),
    (5955.08, "USD", "Final amount: USD 5955.08"),
    (5955.08, "USD", "Year 1: $5,300.00\nYear 2: $5,618.00\nYear 3: $5,955.08\n\nThe final amount is $5,955.08."),
    (5955.08, "USD", "The interest earned is $955.08, so the final amount is $5,955.08."),
    (5955.08, "USD", "$$A = 5000 \\times (1.06)^{3} = 5955.08$$"),
    (5955.08, "USD", "The final amount is $5{,}955.08."),
    # --- rectangle: +44 % -------------------------------------------------------------------------
    (44, "%", "The area increases by 44%."),
    (44, "%", "The area increases by 44 percent."),
    (44, "%", "Original area = 15 × 8 = 120 cm². New area = 18 cm × 9.6 cm = 172.8 cm². "
              "Percentage increase = (172.8 − 120) / 120 × 100 = 44%."),
    (44, "%", "The new area is 1.44 times the original, an increase of 44%."),
    (44, "%", "Therefore, the percentage increase in area is 44 %."),
    (44, "%", "The area grows by $44\\%$."),
    (44, "%", "Increase = 1.2 × 1.2 − 1 = 0.44 = 44%"),
    (44, "%", "So the answer is 44% (not 40%, since both sides grow)."),
    (44, "%", "Each side is scaled by a factor of 1.2. So the area increases by 44%."),
    # --- car: 270 miles ---------------------------------------------------------------------------
    (270, "mi", "Distance 1 = 60 mph × 2.5 hours = 150 miles. Distance 2 = 80 mph × 1.5 hours = "
                "120 miles. Total distance = 150 + 120 = 270 miles."),
    (270, "mi", "The total distance traveled is 270 miles (about 434.5 km)."),
    (270, "mi", "Therefore, the car travels 270 mi in total."),
    (270, "mi", "The total distance is 150 miles + 120 miles = 270 miles."),
    (270, "mi", "\\boxed{270}"),
    (270, "mi", "In total, the car covers 270 miles over 4 hours."),
    # --- two legs: 5 h (issue 11: a closing "total" clause after the working) ----------------------
    (5, "h", "We drive 120 km at 60 km/h and then 120 km at 40 km/h, so 2 hours plus 3 hours, total 5 hours."),
    (5, "h", "The first leg takes 2 hours and the second 3 hours. That is 2 hours plus 3 hours, total 5 hours."),
    (5, "h", "So the first leg takes 2 hours and the second 3 hours, 5 hours in total."),
    (5, "h", "So 2 h and 3 h, for a total of 5 h."),
    (5, "h", "So it takes 2 hours for the first half and 3 hours for the second, altogether 5 hours."),
    (5, "h", "Therefore the trip takes 2 hours and 3 hours, which adds up to 5 hours."),
    (5, "h", "Time for leg 1 is 2 hours, time for leg 2 is 3 hours, giving 5 hours."),
    (5, "h", "So the legs take 2 and 3 hours: 5 hours."),
    (5, "h", "So the trip takes 2 hours plus 3 hours, 5 hours altogether."),
    (5, "h", "Leg one: 2 hours. Leg two: 3 hours. Total: 5 hours."),
    (5, "h", "2 hours plus 3 hours is 5 hours."),
    (5, "h", "Thus 2 hrs and 3 hrs make a total travel time of 5 hrs."),
    (5, "h", "The two legs take 2 h and 3 h, which comes to 5 h overall."),
    (5, "h", "So, 2 hrs + 3 hrs → 5 hrs."),
    (5, "h", "In all, 2 hours and 3 hours sum to 5 hours."),
    (5, "h", "At 60 km/h the first 120 km take 2 hours; at 40 km/h the next 120 km take 3 hours; 5 hours in all."),
    (5, "h", "Leg 1 = 120/60 = 2 h, leg 2 = 120/40 = 3 h, so the total time is 5 h."),
    (5, "h", "It takes 5 hours in total, compared with 4 hours in total at a constant 60 km/h."),
    (5, "h", "The trip takes 5 hours. That is 1 hour more than the 4 hours you might expect."),
    (5, "h", "The whole drive takes 300 minutes in total."),
    (5, "h", "Total drive time: 5.0 hours"),
    # markdown, LaTeX, answer markers, trailing explanations
    (5, "h", "- Leg 1: **2 hours**\n- Leg 2: **3 hours**\n- **Total: 5 hours**"),
    (5, "h", "| leg | time |\n|---|---|\n| 1 | 2 h |\n| 2 | 3 h |\n\n**Total time: 5 h**"),
    (5, "h", "$$t = 2\\text{ h} + 3\\text{ h} = 5\\text{ h}$$"),
    (5, "h", "The legs take 2 and 3 hours. $\\boxed{5 \\text{ hours}}$ since 2 + 3 = 5."),
    (5, "h", "So the trip takes $2 + 3 = \\boxed{5}$ hours."),
    (5, "h", "**Answer:** 5 hours (2 h for the first leg + 3 h for the second, 5 h in total)."),
    (5, "h", "The answer is 5 hours: 2 hours for the first leg and 3 hours for the second."),
    (5, "h", "Answer: 5 hours. This is because the first leg takes 2 hours and the second 3 hours."),
    (5, "h", "The answer is 5 hours, because the legs take 2 hours and 3 hours in total."),
    (5, "h", "The total time is **5 hours**, since 120/60 = 2 and 120/40 = 3."),
    (5, "h", "The whole drive is a 5-hour trip. Note that the average speed is 48 km/h, not 50 km/h."),
    # other checks, other units
    (270, "mi", "So it covers 150 miles plus 120 miles, total 270 miles."),
    (270, "mi", "150 mi and 120 mi, 270 mi altogether (2.5 h + 1.5 h of driving)."),
    (5955.08, "USD", "Interest: $955.08 on $5,000, total $5,955.08."),
    (5955.08, "USD", "After year 1: $5,300; after year 2: $5,618; after year 3: **$5,955.08** in total."),
    (44, "%", "The sides grow by 20% each, so the area grows by 1.2 × 1.2 − 1 = 0.44, i.e. **44%** overall."),
    (2.4, "h", "The train needs 3 hours at 80 km/h; at 100 km/h it needs 2.4 hours in total."),
]

FAIL = [
    # the right number only to reject it
    (2.4, "h", "It is not 2.4 hours, the answer is 3"),
    (2.4, "h", "The answer is not 2.4 hours but 3 hours."),
    (2.4, "h", "2.4 hours is incorrect; the right answer is 3 hours."),
    (2.4, "h", "The answer is 2.4 hours. Wait, that's wrong. It should be 3 hours."),
    (2.4, "h", "Some would say 2.4 hours, which is wrong. The journey takes 3 hours."),
    (2.4, "h", "Rather than 2.4 hours, the journey takes 3 hours."),
    (2.4, "h", "Final answer: 2.5 hours (about 2.4 hours if rounded down)"),
    # wrong answers that contain the right number in the working
    (2.4, "h", TRAIN_WORK + "2.4. So the journey takes 3 hours."),
    (2.4, "h", "The speed becomes 100 km/h, so the journey would take 2.5 hours."),
    (2.4, "h", "It would take 2 hours 30 minutes."),
    (2.4, "h", "It takes 24 minutes."),
    (2.4, "h", "The speed increases by 20 km/h, so the answer is 20."),
    (2.4, "h", "I cannot determine the time without more information."),
    (2.4, "h", ""),
    (2.4, "h", "lorem ipsum dolor sit amet 2.4 km"),  # wrong unit family
    (5955.08, "USD", "A = 5000 × (1 + 0.06 × 3) = $5,900.00"),  # simple interest
    (5955.08, "USD", "The interest earned is $955.08."),
    (5955.08, "USD", "Not $5,955.08 — the final amount is $5,983.40 with monthly compounding."),
    (5955.08, "USD", "The final amount is €5,955.08."),  # wrong currency
    (44, "%", "The area increases by 40%."),
    (44, "%", "The area increases by 20%."),
    (44, "%", "The new area is 1.44 times the original."),
    (44, "%", "The new area is 172.8 cm²."),
    (44, "%", "It is not 44%; the area increases by 40%."),
    (270, "mi", "The total distance is 270 km."),
    (270, "mi", "The car travels 150 miles in the first part and 120 miles in the second part."),
    (270, "mi", "The total distance is 150 + 120 = 280 miles."),
    (270, "mi", "Total time is 4 hours, so the average speed is 67.5 mph."),
    # two legs: 5 h expected; the result not stated, stated wrong, or rejected
    (5, "h", "It takes 2 hours for the first leg and 3 hours for the second."),
    (5, "h", "The answer is 2 hours plus 3 hours."),
    (5, "h", "So 2 hours plus 3 hours, total 6 hours."),
    (5, "h", "The total is not 5 hours but 6 hours."),
    (5, "h", "5 hours in total is wrong; with the stop it takes 6 hours."),
    (5, "h", "It takes 6 hours in total, compared with 5 hours at a constant speed."),
    (5, "h", "Answer: 6 hours. That is 5 hours of driving in total plus a 1-hour break."),
    (5, "h", "\\boxed{6} (the legs take 2 h and 3 h, 5 h in total, plus a 1 h stop)"),
    (5, "h", "So 2 hours and 3 hours, total 5 km."),  # wrong unit family
    (5, "h", "The total is 5 hours. Wait, I made a mistake: the second leg takes 4 hours, so 6 hours in total."),
    (5, "h", "The average speed is 48 km/h, giving 5 hours? No: the answer is 4.8 hours."),
    (270, "mi", "So 150 miles plus 120 miles, total 280 miles."),
    (5955.08, "USD", "Principal $5,000 plus interest $955.08, total $5,900.00."),
    (44, "%", "Each side grows by 20%, so 20% plus 20%, a total of 40%."),
]


@pytest.mark.parametrize("expected,unit,reply", PASS)
def test_final_answer_is_found(expected: float, unit: str, reply: str) -> None:
    got = extract_final(reply, unit)
    assert got.value is not None, "no answer found in %r" % reply
    assert got.value == pytest.approx(expected, abs=1e-6), "%s from %r" % (format_quantity(got.value, got.unit), got.context)


@pytest.mark.parametrize("expected,unit,reply", FAIL)
def test_wrong_or_rejected_answer_is_not_taken(expected: float, unit: str, reply: str) -> None:
    got = extract_final(reply, unit)
    assert got.value is None or got.value != pytest.approx(expected, abs=1e-6), (
        "took %s from %r" % (format_quantity(got.value, got.unit), got.context))


def test_rejected_mention_is_reported() -> None:
    got = extract_final("It is not 2.4 hours, the answer is 3", "h")
    assert got.value == 3
    assert got.tier == "answer_marker"
    assert [t for t, _ in got.rejected] == ["2.4 hours"]


def test_retraction_is_reported() -> None:
    got = extract_final("The answer is 2.4 hours. Wait, that's wrong. It should be 3 hours.", "h")
    assert got.value == 3
    assert got.rejected and got.rejected[0][1].startswith("retracted later")


def test_conversion_to_expected_unit() -> None:
    assert extract_final("It takes 144 minutes.", "min").value == pytest.approx(144)
    assert extract_final("It takes 144 minutes.", "h").value == pytest.approx(2.4)
    assert extract_final("about 434.5 km", "mi").value == pytest.approx(269.99, abs=0.01)


def test_no_unit_expected_takes_any_quantity() -> None:
    got = extract_final("Therefore x = 42.", None)
    assert got.value == 42 and got.unit is None


def test_speed_is_never_read_as_time() -> None:
    kinds = [(m.text, m.family) for m in find_mentions(normalize("at 100 km/h for 3 h and 60 mph"))]
    assert kinds == [("100 km/h", "speed"), ("3 h", "time"), ("60 mph", "speed")]


def test_operands_are_marked() -> None:
    ms = find_mentions(normalize("Time = 240 / 100 = 2.4 hours"))
    assert [(m.text, m.operand) for m in ms] == [("240", True), ("100", True), ("2.4 hours", False)]


def test_thousands_and_products_survive_normalisation() -> None:
    assert "5000*1.06*1.06" in normalize("5000*1.06*1.06")
    assert [m.value for m in find_mentions(normalize("$1,234,567.5"))] == [1234567.5]


def test_format_quantity() -> None:
    assert format_quantity(2.4, "h") == "2.4 h"
    assert format_quantity(44.0, "%") == "44%"
    assert format_quantity(5955.08, "USD") == "5955.08 USD"
    assert format_quantity(None, "h") == "nothing"


def test_stated_totals_are_marked() -> None:
    text = normalize("so 2 hours plus 3 hours, total 5 hours; 4 hours in all; giving 6 h: 7 h.")
    assert [(m.text, m.operand, m.total) for m in find_mentions(text)] == [
        ("2 hours", True, False), ("3 hours", True, False), ("5 hours", False, True),
        ("4 hours", False, True), ("6 h", False, True), ("7 h", False, True)]


def test_a_total_in_a_trailing_explanation_does_not_replace_the_answer() -> None:
    got = extract_final("The answer is 5 hours, because the legs take 2 hours and 3 hours in total.", "h")
    assert (got.value, got.tier) == (5, "answer_marker")
    # the same total before the explanation cue is the answer
    got = extract_final("The answer is 2 hours and 3 hours, 5 hours in total, because the legs differ.", "h")
    assert (got.value, got.tier) == (5, "answer_marker")
