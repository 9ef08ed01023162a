# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Golden answers: validate a ``golden.json`` and compare an engine's reply with it.

``slm-engine build`` records, for a few fixed chat prompts, the greedy reply of the model it built
(``engine/src/slm_engine/golden.py``: token ids, the text streamed per token, the whole text).
A host's engine that serves the same release with temperature 0 must give the same reply.

The engines return text, not token ids, so the comparison is on text and is reported in tokens:
the reply and the recorded text are compared character by character; the *matched tokens* are
the recorded tokens whose text lies wholly inside the common prefix, and the first differing
token is the one after them. When the recording ended with end-of-sequence (``finish_reason``
``stop``), that end counts as one more token: a reply that goes on after it differs there.

Tolerance (docs/verify_checks.md has the measurements behind it): greedy decoding is exact or
chaotic. With the same weights, prompt rendering and onnxruntime-genai version the int4 CPU
kernels give the same reply; a different thread count or CPU kernel can change rounding, and a
near-tie between the two best tokens may flip, after which everything that follows differs. A
flip is rare and can come at any position, a wrong release (other weights, other template,
corrupted file) differs from the first tokens on. So an answer passes when at least
``min_exact_tokens`` leading tokens match exactly AND the matched share of the recorded tokens is
at least ``min_prefix_ratio``.

Pure functions, stdlib only (runs on target hosts).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

SCHEMA = 1
#: Defaults of the tolerance (see the module docstring and docs/verify_checks.md).
MIN_EXACT_TOKENS = 8
MIN_PREFIX_RATIO = 0.5
_EXCERPT = 40


def golden_problems(doc):
    """Everything wrong with a golden document, one sentence each; empty when usable."""
    if not isinstance(doc, dict):
        return ["the golden file must hold a JSON object, got %s" % type(doc).__name__]
    problems = []
    if doc.get("schema") != SCHEMA:
        problems.append("schema is %r, this collection reads schema %d" % (doc.get("schema"), SCHEMA))
    answers = doc.get("answers")
    if not isinstance(answers, list) or not answers:
        return problems + ["answers must be a non-empty list"]
    for index, answer in enumerate(answers):
        where = "answers[%d]" % index
        if not isinstance(answer, dict):
            problems.append("%s must be an object" % where)
            continue
        where = "answers[%d] (%s)" % (index, answer.get("name"))
        messages = answer.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages):
            problems.append("%s: messages must be a non-empty list of {role, content} strings" % where)
        if not isinstance(answer.get("max_tokens"), int) or answer["max_tokens"] < 1:
            problems.append("%s: max_tokens must be an integer >= 1, got %r" % (where, answer.get("max_tokens")))
        pieces, ids = answer.get("pieces"), answer.get("token_ids")
        if not isinstance(pieces, list) or not all(isinstance(p, str) for p in pieces):
            problems.append("%s: pieces must be a list of strings" % where)
        elif not isinstance(ids, list) or len(ids) != len(pieces):
            problems.append("%s: token_ids must be a list as long as pieces" % where)
        elif "".join(pieces) != answer.get("text"):
            problems.append("%s: text is not the concatenation of pieces" % where)
        if answer.get("finish_reason") not in ("stop", "length"):
            problems.append("%s: finish_reason must be stop or length, got %r" % (where, answer.get("finish_reason")))
    return problems


def tolerance_problems(min_exact_tokens, min_prefix_ratio):
    """Problems with tolerance settings (readable, naming the parameter)."""
    problems = []
    if not isinstance(min_exact_tokens, int) or min_exact_tokens < 0:
        problems.append("min_exact_tokens must be an integer >= 0; got %r" % (min_exact_tokens,))
    if not isinstance(min_prefix_ratio, (int, float)) or not 0 <= min_prefix_ratio <= 1:
        problems.append("min_prefix_ratio must be a fraction between 0 and 1; got %r" % (min_prefix_ratio,))
    return problems


def _common_prefix(a, b):
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _excerpt(text, start):
    return text[start:start + _EXCERPT]


def compare(answer, got, min_exact_tokens=MIN_EXACT_TOKENS, min_prefix_ratio=MIN_PREFIX_RATIO):
    """Compare reply text ``got`` with one recorded ``answer``; returns a result dict.

    Keys: passed, identical, matched_tokens, total_tokens, first_diff_token (None when
    identical), expected (recorded text from the first differing token), got (reply from there),
    reason (one line for an operator).
    """
    pieces = answer["pieces"]
    expected = answer["text"]
    ends = answer["finish_reason"] == "stop"
    total = len(pieces) + (1 if ends else 0)
    common = _common_prefix(expected, got)
    matched, offset = 0, 0
    for piece in pieces:
        if offset + len(piece) > common:
            break
        offset += len(piece)
        matched += 1
    # A token whose piece is '' (the start of a multi-byte character) is proven only by the next one.
    while 0 < matched < len(pieces) and pieces[matched - 1] == "":
        matched -= 1
    if matched == len(pieces) and ends and got == expected:
        matched = total
    identical = matched == total and (ends or got == expected)
    needed = min(min_exact_tokens, total)
    ratio = float(matched) / total if total else 1.0
    passed = identical or (matched >= needed and ratio >= min_prefix_ratio)
    result = {"passed": passed, "identical": identical, "matched_tokens": matched, "total_tokens": total,
              "first_diff_token": None if identical else matched, "expected": "", "got": ""}
    if identical:
        result["reason"] = "identical (%d tokens)" % total
        return result
    result["expected"] = _excerpt(expected, offset) if matched < len(pieces) else "<end of sequence>"
    result["got"] = _excerpt(got, offset) or "<end of reply>"
    verdict = "within tolerance" if passed else "outside tolerance"
    result["reason"] = ("differs from token %d of %d (%s: needs the first %d tokens exact and %d%% of them; "
                        "%d%% matched): expected %r, got %r"
                        % (matched, total, verdict, needed, round(min_prefix_ratio * 100),
                           round(ratio * 100), result["expected"], result["got"]))
    return result


def summary_line(results):
    """``3/3 golden answers reproduced`` or the failing ones with where they differ."""
    failed = [r for r in results if not r["passed"]]
    line = "%d/%d golden answers reproduced" % (len(results) - len(failed), len(results))
    if failed:
        line += "; failing: " + "; ".join("%s: %s" % (r["name"], r["reason"]) for r in failed)
    return line
