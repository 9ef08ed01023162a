# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Find the FINAL numeric answer in a model's free-text reply.

A reply to "how long would the journey take?" mentions many numbers (240 km, 3 hours, 80 km/h,
20 km/h, 100 km/h) before the one that answers. The extractor reads the reply the way a
grader would:

1. **Normalise.** Drop ``<think>`` blocks, Markdown emphasis and LaTeX markup
   (``\\text{}``, ``\\frac{12}{5}`` -> ``2.4``, ``\\times``, ``\\%``, ``\\$``, ``$...$``), keeping
   ``\\boxed{...}`` as a marked span.
2. **Find quantities** (mentions): ``2 hours 24 minutes``, ``2:24 hours``, ``$5,955.08``,
   ``44%``, ``270 miles``, ``12/5``, bare numbers. Each gets a unit family (time, length, speed,
   area, percent, currency) via :mod:`slm_units`; thousands separators are understood.
3. **Mark mentions that are not answers:**

   * *operands* — a number followed by an operator or ``=``, or preceded by an operator,
     in symbols or words (``240 / 100 = 2.4``, ``2 hours plus 3 hours is 5 hours``: only the
     last is a result);
   * *negated* — a negation or comparison cue shortly before it in the same clause (``not``,
     ``isn't``, ``rather than``, ``instead of``, ``other than``, ``incorrect``, ``than``,
     ``compared with``, ``versus``...): "it is **not** 2.4 hours", "1 hour more **than** 4 hours";
   * *rejected* — a rejection right after it: "3 hours **is wrong**", "2.4 h (incorrect)";
   * *totals* — a quantity stated as the result of the working: a result cue right before it
     ("total 5 hours", "a total of", "altogether", "adds up to", "comes to", "giving"), right
     after it ("5 hours in total", "overall", "combined"), or a colon or arrow before a quantity
     that ends the sentence ("2 and 3 hours: 5 hours");
   * *retracted* — everything before the last self-correction cue ("wait", "let me
     recalculate", "I made a mistake", "that's wrong", "correction") is ignored when the text
     after the cue still contains an answer.
4. **Pick the final answer by tier**, first tier that yields one wins:

   1. the last ``\\boxed{...}``;
   2. the last explicit answer marker ("final answer", "the answer is", "Answer:",
      "final amount is" ...), reading to the end of its sentence;
   3. the last conclusion marker ("therefore", "thus", "so", "hence", "in total" ...), to the
      end of its sentence;
   4. the last sentence of the reply that contains a usable quantity.

   Within the chosen span a stated total wins over the quantities that lead to it ("so 2 hours
   plus 3 hours, total 5 hours" -> 5; a total inside a trailing explanation after ``because``,
   ``since`` or ``(`` does not count); otherwise the first usable quantity wins ("2.4 hours, 0.6
   hours less than before" -> 2.4). Either way a quantity written with a compatible unit is
   preferred over a bare number ("speed 100, so 2.4 hours" -> 2.4 h). A bare number is read in
   the expected unit.

What it does not do: number words ("two point four"), ranges ("2-3 hours"), scientific notation,
non-English replies. A reply whose final statement is a bare ratio for a percent check ("0.44")
fails; that is deliberate — the question asks for a percentage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from ansible_collections.edgeai.slm_fleet.plugins.module_utils import slm_units

BOX_OPEN, BOX_CLOSE = "\x02", "\x03"

# --------------------------------------------------------------------------- normalisation


def _unbrace(text: str, start: int) -> Tuple[str, int]:
    """Content of the balanced ``{...}`` starting at ``text[start] == '{'`` and the end index."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:i], i + 1
    return text[start + 1:], len(text)


def _mark_boxed(text: str) -> str:
    out, i = [], 0
    pattern = re.compile(r"\\(?:boxed|fbox)\s*(?=\{)")
    while True:
        m = pattern.search(text, i)
        if not m:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:m.start()])
        inner, i = _unbrace(text, m.end())
        out.append(BOX_OPEN + inner + BOX_CLOSE)


def _fractions(text: str) -> str:
    num = r"\s*([-−]?\d+(?:\.\d+)?)\s*"

    def repl(m: "re.Match[str]") -> str:
        a, b = float(m.group(1).replace("−", "-")), float(m.group(2).replace("−", "-"))
        return _fmt(a / b) if b else m.group(0)

    return re.sub(r"\\[dt]?frac\s*\{" + num + r"\}\s*\{" + num + r"\}", repl, text)


_LATEX_SUBS = [
    (r"\\(?:text|mathrm|textbf|mathbf|textit|mbox|operatorname)\s*\{([^{}]*)\}", r" \1 "),
    (r"\\left|\\right", ""),
    (r"\\times|\\cdot|⋅|·", " × "),
    (r"\\div", " ÷ "),
    (r"\\approx|≈", " ≈ "),
    (r"\\%", "%"),
    (r"\{,\}", ","),
    (r"\^\{([^{}]*)\}", r"^\1"),
    (r"\\[,;:! ]|~", " "),
    (r"\\[()\[\]]", " "),
    (r"\$\$", " "),
    (r"\\[a-zA-Z]+", " "),
    (r"[{}]", " "),
]


def normalize(text: str) -> str:
    """Plain text for extraction (see the module docstring, step 1)."""
    text = re.sub(r"(?is)<think>.*?</think>", " ", text or "")
    for ch in ("\u00a0", "\u2009", "\u202f", "\u2007"):
        text = text.replace(ch, " ")
    text = text.replace("\u2212", "-").replace("\u2013", " – ").replace("\u2014", " — ")
    text = re.sub(r"\*\*|__|`", "", text)
    # *2.4 hours* (emphasis) but not 5000*1.06*1.06 or 2 * 3 * 4 (products)
    text = re.sub(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?m)^\s*#{1,6}\s*", "", text)
    text = _mark_boxed(text)
    text = _fractions(text)
    text = text.replace("\\$", "\x04")  # an escaped dollar is money, never a math delimiter
    for pattern, repl in _LATEX_SUBS:
        text = re.sub(pattern, repl, text)
    # $2.4$ and $44%$ are math, $5,955.08 is money; a lone $ before a non-digit is a delimiter.
    text = re.sub(r"\$\s*(-?\d[\d,]*(?:\.\d+)?\s*%?)\s*\$", r" \1 ", text)
    text = re.sub(r"\$(?!\s?\d)", " ", text).replace("\x04", "$")
    # abbreviations whose dots would end a sentence
    text = re.sub(r"\b(i\.e|e\.g|approx|vs|cf|etc)\.", lambda m: m.group(1).replace(".", ""), text, flags=re.I)
    text = re.sub(r"[ \t]+", " ", text)
    return text


# --------------------------------------------------------------------------- mentions

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_SIGNED = r"(?:(?<![\w.)\]])-)?(?:" + _NUM + r")"
_UNIT_ALT = "|".join(re.escape(u) for u in slm_units.suffix_aliases())
_H = r"(?:hours?|hrs?|h)"
_M = r"(?:minutes?|mins?|m)"
_S = r"(?:seconds?|secs?|s)"

_COMPOUND = re.compile(
    r"(?<![\w.])(\d+)\s*" + _H + r"\s*(?:,\s*|\s+and\s+|\s*)(\d+(?:\.\d+)?)\s*" + _M + r"(?![a-z])"
    r"(?:\s*(?:,\s*|\s+and\s+|\s*)(\d+(?:\.\d+)?)\s*" + _S + r"(?![a-z]))?", re.I)
_CLOCK = re.compile(r"(?<![\w.:])(\d{1,3}):([0-5]\d)\s*" + _H + r"(?![a-z])", re.I)
_PREFIX_CUR = re.compile(r"(US\$|\$|€|USD\s?|EUR\s?)\s?(" + _SIGNED + r")(?![\d])", re.I)
_FRACTION = re.compile(r"(?<![\w./])(\d+)/(\d+)(?![\w./])")
_PLAIN = re.compile(r"(?<![\w.])(" + _SIGNED + r")(?![\d])(?:[ \t]?-?[ \t]?(" + _UNIT_ALT + r")(?![a-z\d/²^]))?", re.I)


@dataclass
class Mention:
    """One quantity found in the text."""

    start: int
    end: int
    value: float
    unit: Optional[str]  # canonical unit, None for a bare number
    family: Optional[str]
    text: str
    operand: bool = False
    negated: bool = False
    rejected_by: str = ""
    boxed: bool = False
    delta: bool = False
    total: bool = False


def _num(s: str) -> float:
    return float(s.replace(",", ""))


def _fmt(v: float) -> str:
    s = ("%.6f" % v).rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def find_mentions(text: str) -> List[Mention]:
    """All quantities in normalised text, in order, without overlaps."""
    found: List[Mention] = []
    taken: List[Tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    def add(m: Mention) -> None:
        if free(m.start, m.end):
            found.append(m)
            taken.append((m.start, m.end))

    for m in _COMPOUND.finditer(text):
        hours = int(m.group(1)) + _num(m.group(2)) / 60 + (_num(m.group(3)) / 3600 if m.group(3) else 0)
        add(Mention(m.start(), m.end(), hours, "h", "time", m.group(0)))
    for m in _CLOCK.finditer(text):
        add(Mention(m.start(), m.end(), int(m.group(1)) + int(m.group(2)) / 60, "h", "time", m.group(0)))
    for m in _PREFIX_CUR.finditer(text):
        unit = slm_units.lookup(m.group(1).strip())
        family, canon = (unit[0], unit[1]) if unit else (None, None)
        add(Mention(m.start(), m.end(), _num(m.group(2)), canon, family, m.group(0)))
    for m in _FRACTION.finditer(text):
        b = int(m.group(2))
        if b:
            add(Mention(m.start(), m.end(), int(m.group(1)) / b, None, None, m.group(0)))
    for m in _PLAIN.finditer(text):
        unit = slm_units.lookup(m.group(2)) if m.group(2) else None
        add(Mention(m.start(), m.end(), _num(m.group(1)), unit[1] if unit else None,
                    unit[0] if unit else None, m.group(0)))
    found.sort(key=lambda x: x.start)
    _annotate(text, found)
    return found


# --------------------------------------------------------------------------- annotations

_WORD_OPS = r"(?:plus|minus|times|multiplied\s+by|divided\s+by|added\s+to|subtracted\s+from)"
_OP_AFTER = re.compile(
    r"^(?:\(|[\s)\]]*(?:[×*/÷+^=]|x\s*[\d(]|[-–]\s+[\d(]|" + _WORD_OPS + r"\s+(?:a\s+|an\s+)?[$€]?[\d(.]))", re.I)
_OP_BEFORE = re.compile(r"(?:[×*/÷+^]|\s[x]|\d\s[-–]|\)\s?[-–]|\b" + _WORD_OPS + r")[\s(\[]*$", re.I)
_NEG_BEFORE = re.compile(
    r"\b(?:not|never|no\s+longer|isn't|aren't|wasn't|weren't|doesn't|don't|didn't|won't|wouldn't|can't|"
    r"cannot|shouldn't|neither|nor|rather than|instead of|other than|in place of|incorrect(?:ly)?|"
    r"wrong(?:ly)?|mistaken(?:ly)?|false|than|compared\s+(?:with|to)|versus|vs|as\s+opposed\s+to|"
    r"(?:up|down)\s+from)\b|≠", re.I)
_REJECT_AFTER = re.compile(
    r"^[\s)*\"']*(?:[(,—–-]\s*)?(?:which\s+)?(?:(?:is|was|would be|would have been|seems|looks|are|were)\s+)?"
    r"(?:wrong|incorrect|not\s+(?:correct|right|the\s+(?:correct\s+|right\s+|final\s+)?answer)|"
    r"a\s+(?:common\s+)?mistake|an?\s+error)\b", re.I)
_CLAUSE_BREAK = re.compile(r"[.!?;:,\n](?=\s|$)|\n|—|–")

ANSWER_MARKERS = re.compile(
    r"\b(?:final\s+answer|(?:the\s+)?(?:correct\s+|right\s+|final\s+)?answer\s*(?:is|would\s+be|will\s+be|[:=])|"
    r"final\s+(?:result|amount|value|total|distance|time)\s*(?:is|would\s+be|will\s+be|[:=]))", re.I)
CONCLUSION_MARKERS = re.compile(
    r"\b(?:therefore|thus|hence|so|consequently|in\s+conclusion|in\s+summary|to\s+summarize|"
    r"as\s+a\s+result|overall|altogether|in\s+total|which\s+means|this\s+means|"
    r"(?:the\s+)?result\s*(?:is|[:=])|total(?:\s+\w+)?\s*(?:is|[:=]))|∴", re.I)
# A quantity stated as a change ("saves 36 minutes", "0.6 hours less") is only the answer when
# nothing else is: candidates with these cues are considered after the others in each tier.
_DELTA_AFTER = re.compile(
    r"^\s*(?:\w+\s+)?(?:less|more|fewer|faster|slower|shorter|longer|earlier|sooner|later|quicker|"
    r"saved|of\s+savings|increase|decrease|reduction|difference)\b", re.I)
_DELTA_BEFORE = re.compile(
    r"\b(?:sav(?:e|es|ed|ing|ings)|(?:increase|decrease|reduce|cut|shorten)(?:s|d)?\s+by|"
    r"reduction\s+of|difference\s+of|(?:faster|shorter|quicker|earlier)\s+by)\s*(?:\w+\s+)?$", re.I)
# A quantity stated as the result of the working ("total 5 hours", "5 hours in total", "giving
# 5 hours", "...: 5 hours."): inside one span it wins over the quantities that lead to it.
_TOTAL_BEFORE = re.compile(
    r"(?:\b(?:in\s+total|(?:grand\s+)?total(?:\s+[a-z]+){0,3}?|totall?ing|totals|in\s+all|all\s+told|"
    r"altogether|all\s+together|combined|overall|sum(?:\s+of\s+(?:them|both|these|those))?|"
    r"add(?:s|ed|ing)?\s+up\s+to|sum(?:s|med|ming)?\s+(?:up\s+)?to|com(?:e|es|ing)\s+to|"
    r"work(?:s|ed|ing)?\s+out\s+to|amount(?:s|ed|ing)?\s+to|giv(?:es|ing)|mak(?:es|ing)|yield(?:s|ing)?)"
    r"(?:\s+(?:is|was|of|are|will\s+be|would\s+be|comes\s+to|equals))?"
    r"[\s:=]*)"
    r"(?:(?:about|approximately|around|roughly|exactly|just|only|approx|~|≈)\s*)?$", re.I)
_TOTAL_AFTER = re.compile(
    r"^[\s)]*(?:in\s+total|total|altogether|all\s+together|in\s+all|all\s+told|combined|overall)\b", re.I)
_COLON_BEFORE = re.compile(r"(?:[:→⇒]|=>)\s*$")
_SENTENCE_END_AFTER = re.compile(r"^\s*(?:[.!?](?=\s|$)|\n|$)")
# Text after these cues explains an answer already given: a total stated there is working.
_EXPLANATION = re.compile(r"\(|\b(?:because|since|given\s+that|due\s+to|based\s+on|as\s+follows|for\s+example)\b", re.I)
RETRACTION = re.compile(
    r"\b(?:wait|correction|scratch\s+that|oops|on\s+second\s+thought|"
    r"let\s+me\s+(?:re-?calculate|re-?compute|re-?do|correct|fix|re-?check|reconsider)|"
    r"i\s+made\s+(?:a|an)\s+(?:mistake|error)|"
    r"(?:that|this)(?:'s|\s+is|\s+was)\s+(?:wrong|incorrect|not\s+(?:right|correct)))\b", re.I)


def _annotate(text: str, mentions: List[Mention]) -> None:
    prev_end = 0
    for mention in mentions:
        after = text[mention.end:mention.end + 40]
        lo = max(0, mention.start - 80)
        before = text[lo:mention.start]
        mention.operand = bool(_OP_AFTER.match(after)) or bool(_OP_BEFORE.search(before))
        # The clause before the mention, cut at the last clause break, answer marker or earlier
        # quantity: "not 2.4 hours but 3 hours" negates 2.4 only.
        cut = max(0, prev_end - lo)
        for br in _CLAUSE_BREAK.finditer(before):
            cut = max(cut, br.end())
        for mk in ANSWER_MARKERS.finditer(before):
            cut = max(cut, mk.end())
        window = " ".join(before[cut:].split()[-4:])
        mention.negated = bool(_NEG_BEFORE.search(window))
        rej = _REJECT_AFTER.match(after)
        if rej:
            mention.rejected_by = rej.group(0).strip(" ,(")
        mention.delta = bool(_DELTA_AFTER.match(after)) or bool(_DELTA_BEFORE.search(window))
        mention.total = _is_total(before[max(0, prev_end - lo):], after)
        opened = text.rfind(BOX_OPEN, 0, mention.start)
        mention.boxed = opened >= 0 and text.rfind(BOX_CLOSE, 0, mention.start) < opened
        prev_end = mention.end


def _is_total(before: str, after: str) -> bool:
    """Whether a mention is stated as a result: a result cue next to it, in its own sentence."""
    sentence = re.split(r"[.!?](?=\s)|\n", before)[-1]
    if _TOTAL_AFTER.match(after) or _TOTAL_BEFORE.search(sentence):
        return True
    return bool(_COLON_BEFORE.search(sentence)) and bool(_SENTENCE_END_AFTER.match(after))


# --------------------------------------------------------------------------- selection


@dataclass
class Extraction:
    """The final answer (or why there is none)."""

    value: Optional[float] = None
    unit: Optional[str] = None
    text: str = ""
    context: str = ""
    tier: Optional[str] = None
    rejected: List[Tuple[str, str]] = field(default_factory=list)  # (mention text, context)

    @property
    def found(self) -> bool:
        return self.value is not None


def _context(text: str, start: int, end: int, width: int = 60) -> str:
    a = max(0, start - width)
    snippet = text[a:end].replace(BOX_OPEN, "\\boxed{").replace(BOX_CLOSE, "}")
    snippet = " ".join(snippet.split())
    return ("..." if a > 0 else "") + snippet


def _sentence_end(text: str, pos: int) -> int:
    m = re.compile(r"[.!?](?=\s|$)|\n").search(text, pos)
    return m.end() if m else len(text)


def _usable(m: Mention, family: Optional[str]) -> bool:
    if m.operand or m.negated or m.rejected_by:
        return False
    return family is None or m.family is None or m.family == family


def _pick(cands: List[Mention], allow_delta: bool = True, explained_from: Optional[int] = None) -> Optional[Mention]:
    """First stated total, else first candidate, preferring a stated unit; change-quantities only if allowed.

    Totals from ``explained_from`` on belong to an explanation of an answer already given.
    """
    if not allow_delta:
        cands = [m for m in cands if not m.delta]
    totals = [m for m in cands if m.total and (explained_from is None or m.start < explained_from)]
    cands = totals or cands
    with_unit = [m for m in cands if m.unit is not None]
    pool = with_unit or cands
    return pool[0] if pool else None


def _explained_from(norm: str, a: int, b: int) -> Optional[int]:
    """Where an explanation starts in the span ``a:b`` (None when there is none)."""
    m = _EXPLANATION.search(norm, a, b)
    return m.start() if m else None


def _spans(norm: str, region: int, tier: str) -> List[Tuple[int, int]]:
    """Candidate spans of a tier, last first."""
    if tier == "last_sentence":
        cuts = [0] + [m.end() for m in re.finditer(r"[.!?;](?=\s|$)|\n", norm)] + [len(norm)]
        return [(max(a, region), b) for a, b in reversed(list(zip(cuts, cuts[1:]))) if b > region]
    markers = ANSWER_MARKERS if tier == "answer_marker" else CONCLUSION_MARKERS
    spans = []
    for mk in markers.finditer(norm):
        if mk.start() < region:
            continue
        start = mk.end()
        end = _sentence_end(norm, start)
        if not norm[start:end].strip(" :\t\n"):  # "Final answer:\n2.4 h" -> the next line
            end = _sentence_end(norm, end)
        spans.append((start, end))
    return list(reversed(spans))


def extract_final(text: str, unit: Optional[str] = None) -> Extraction:
    """The final numeric answer in ``text``, converted to ``unit`` when one is given."""
    norm = normalize(text)
    expected = slm_units.lookup(unit) if unit else None
    family = expected[0] if expected else None
    mentions = find_mentions(norm)
    result = Extraction()
    for m in mentions:
        if (m.negated or m.rejected_by) and not m.operand and (family is None or m.family in (None, family)):
            result.rejected.append((m.text.strip(), _context(norm, m.start, m.end + 25)))

    region = 0
    for cue in RETRACTION.finditer(norm):
        if any(_usable(m, family) and m.start >= cue.end() for m in mentions):
            region = cue.end()
    live = [m for m in mentions if m.start >= region and _usable(m, family)]
    for m in mentions:
        if m.start < region and _usable(m, family):
            result.rejected.append((m.text.strip(), "retracted later: " + _context(norm, m.start, region)))

    chosen: Optional[Mention] = None
    boxed = [m for m in live if m.boxed]
    if boxed:
        last_box = norm.rfind(BOX_OPEN, 0, boxed[-1].start)
        chosen = _pick([m for m in boxed if norm.rfind(BOX_OPEN, 0, m.start) == last_box])
        result.tier = "boxed"
    # A percentage question usually asks for a change ("increases by 44%"): no delta penalty.
    passes = (True,) if family == "percent" else (False, True)
    tiers = [(t, _spans(norm, region, t)) for t in ("answer_marker", "conclusion_marker", "last_sentence")]
    for allow_delta in passes:
        for tier, spans in tiers:
            for a, b in spans:
                if chosen is None:
                    chosen = _pick([m for m in live if a <= m.start and m.end <= b], allow_delta,
                                   _explained_from(norm, a, b))
                    result.tier = tier
    if chosen is None:
        result.tier = None
        return result
    value = chosen.value
    if expected and chosen.unit is not None:
        converted = slm_units.convert(value, chosen.unit, expected[1])
        value = converted if converted is not None else value
    result.value = value
    result.unit = expected[1] if expected else chosen.unit
    result.text = chosen.text.strip()
    result.context = _context(norm, chosen.start, chosen.end)
    return result


def format_quantity(value: Optional[float], unit: Optional[str]) -> str:
    """``2.4 h``, ``5955.08 USD``, ``44%``."""
    if value is None:
        return "nothing"
    if unit == "%":
        return _fmt(value) + "%"
    return _fmt(value) + (" " + unit if unit else "")
