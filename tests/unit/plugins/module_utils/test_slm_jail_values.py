"""The parent's side of a code check, without Docker: probes, canonical values, verdicts, tampering."""

from __future__ import annotations

import json
from collections import OrderedDict, namedtuple

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_jail import JailResult, _read_channel
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_jail_harness import VALUE_LIMIT, digest, encode
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_jail_values import (
    Digest, Opaque, Tampered, decode, plan, verdict)


@pytest.mark.parametrize("test,probes", [
    ("gcd(48, 18) == 6", ["gcd(48, 18)"]),
    ("binary_search(list(range(0, 100, 2)), 8) == 4", ["binary_search(list(range(0, 100, 2)), 8)"]),
    ("f(1) == list(range(3))", ["f(1)"]),
    ("is_prime(7) and not is_prime(8)", ["is_prime(7)", "is_prime(8)"]),
    ("sorted(f([3, 1])) == [1, 3]", ["sorted(f([3, 1]))"]),
    ("0 < f(2) <= 10", ["f(2)"]),
    ("1 + 1 == 2", []),
    ("f(5) == [i * i for i in range(5)]", ["f(5)"]),
    ("[f(i) for i in range(3)] == [0, 1, 2]", ["[f(i) for i in range(3)]"]),
    ("().__class__ == tuple", ["().__class__"]),
])
def test_only_the_answers_part_of_a_test_goes_into_the_jail(test, probes) -> None:
    assert plan(test).probes == probes


def test_the_parent_decides_from_values_it_never_sent() -> None:
    p = plan("gcd(48, 18) == 6")
    assert verdict(p, [{"value": 6}], 5) == {"test": "gcd(48, 18) == 6", "passed": True, "detail": ""}
    assert verdict(p, [{"value": 1}], 5)["detail"] == "got 1, expected 6"
    assert verdict(p, [{"value": "6"}], 5)["passed"] is False
    assert verdict(p, [{"error": "ZeroDivisionError: x"}], 5)["detail"] == "raised ZeroDivisionError: x"
    assert verdict(p, [{"timeout": True}], 0.5)["detail"] == "timed out after 0.5 s"
    assert verdict(p, [{"missing": "the process was stopped"}], 5)["detail"] == "not run: the process was stopped"
    both = plan("is_prime(7) and not is_prime(8)")
    assert verdict(both, [{"value": True}, {"value": False}], 5)["passed"]
    assert verdict(both, [{"value": True}, {"value": True}], 5)["detail"] == "evaluated to False"


@pytest.mark.parametrize("value", [
    None, True, 0, -7, 3 ** 300, 0.5, float("inf"), 2j, "é", b"\x00ab", bytearray(b"x"), (1, (2,)), [1, [2]],
    {"a": 1, 2: [3]}, {1, 2}, frozenset({"x"}), OrderedDict([(1, 2)]), namedtuple("P", "x y")(1, 2),
])
def test_canonical_values_round_trip_to_equal_plain_values(value) -> None:
    enc = json.loads(json.dumps(encode(value)))
    assert decode(enc) == value and type(decode(enc)) in (type(None), bool, int, float, complex, str, bytes, tuple,
                                                          list, dict, set, frozenset)


def test_other_types_compare_by_type_and_repr_only() -> None:
    class Liar:
        def __eq__(self, other):
            return True

        def __repr__(self):
            return "6"

    enc = json.loads(json.dumps(encode(Liar())))
    value = decode(enc)
    assert isinstance(value, Opaque) and repr(value) == "6"
    assert value != 6 and value != "6" and value == decode(enc) and bool(value) is True
    assert verdict(plan("f() == 6"), [{"value": value}], 5)["detail"] == "got 6, expected 6"


def test_large_values_compare_through_a_digest() -> None:
    big = list(range(5000))
    text = json.dumps(encode(big))
    assert len(text) > VALUE_LIMIT
    d = Digest(digest(encode(big)), len(text), text[:120])
    assert d == list(range(5000)) and d != list(range(4999))
    assert d == [float(x) for x in big]  # 1 == 1.0, as in Python
    p = plan("f() == list(range(5000))")
    assert verdict(p, [{"value": d}], 5)["passed"]
    lt = verdict(plan("f() < [1]"), [{"value": d}], 5)
    assert not lt["passed"] and lt["detail"].startswith("raised TypeError")


@pytest.mark.parametrize("enc", [{"a": 1}, {"$dict": [[[1], 2]]}, {"$eval": "1"}, {"$int": "zz"}, {"$set": [[1]]}])
def test_values_the_harness_cannot_produce_are_tampering(enc) -> None:
    with pytest.raises(Tampered):
        decode(enc)


def test_results_channel_rejects_foreign_and_repeated_lines() -> None:
    ok = '{"loaded":true,"notes":[]}\n{"i":0,"value":6}\n{"done":true}\n'
    r = JailResult()
    assert _read_channel(r, ok, 1) == ([{"value": 6}], True) and r.tampered is None
    for text in ('{"loaded":true,"notes":[]}\n{"i":0,"value":6}\n{"i":0,"value":6}\n',
                 'PASS\n{"i":0,"value":6}\n',
                 '{"test":"gcd(48, 18) == 6","passed":true}\n',
                 '{"i":0,"value":6}\n{"done":true}\n{"i":1,"value":1}\n',
                 '{"i":5,"value":6}\n',
                 '{"i":0,"value":6,"error":"x"}\n',
                 '{"loaded":true,"notes":[]}\n{"loaded":true,"notes":["x"]}\n',
                 '{"i":0,"value":%s}\n' % ("[" * 50000 + "]" * 50000)):
        r = JailResult()
        _read_channel(r, text, 2)
        assert r.tampered, text
