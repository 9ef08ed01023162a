"""Pure parts of the ollama_model module: pinned names, typed parameters, /api/show comparison."""

from __future__ import annotations

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.ollama_models import (
    SpecError,
    blob_digest,
    check_pinned,
    coerce_parameters,
    differences,
    effective,
    normalise_variants,
    parse_show_parameters,
    shown,
    version_tuple,
)
from ollama_emulator_store import parameters_text


@pytest.mark.parametrize("name", ["phi4-mini:3.8b", "phi4-mini:3.8b-q4_K_M", "library/phi4-mini:3.8b",
                                  "registry.local/team/phi4:v1"])
def test_pinned_names_pass(name) -> None:
    assert check_pinned(name) == name


@pytest.mark.parametrize("name, words", [("phi4-mini", "has no tag"), ("phi4-mini:latest", "'latest'"),
                                         ("team/phi4-mini", "has no tag"), ("", "not a valid"),
                                         ("phi4 mini:1", "not a valid"), ("a/b/c/d:1", "not a valid")])
def test_unpinned_names_are_refused_with_an_example(name, words) -> None:
    with pytest.raises(SpecError) as exc:
        check_pinned(name)
    assert words in str(exc.value)


def test_parameters_get_ollamas_types() -> None:
    got = coerce_parameters({"temperature": "0.3", "num_ctx": 4096.0, "stop": "<|end|>", "use_mmap": "false",
                             "top_k": "40"}, "v")
    assert got == {"temperature": 0.3, "num_ctx": 4096, "stop": ["<|end|>"], "use_mmap": False, "top_k": 40}
    for bad, words in (({"num_ctx": 4096.5}, "an integer"), ({"temperature": True}, "a number"),
                       ({"stop": [""]}, "list of strings"), ({"mirostat_x": 1}, "unknown key"),
                       ([1], "must be a mapping")):
        with pytest.raises(SpecError) as exc:
            coerce_parameters(bad, "variants[0]")
        assert words in str(exc.value) and "variants[0]" in str(exc.value)


def test_show_parameters_text_round_trips_the_emulators_go_format() -> None:
    params = {"temperature": 0.3, "num_ctx": 4096, "stop": ["<|end|>", 'say "hi"'], "use_mmap": False}
    text = parameters_text(params)
    assert "num_ctx                        4096\n" in text  # %#v of a whole float64 has no ".0"
    assert parse_show_parameters(text) == {"temperature": 0.3, "num_ctx": 4096.0, "stop": ["<|end|>", 'say "hi"'],
                                           "use_mmap": False}


def test_show_parameters_from_ollamas_docs() -> None:
    text = ('num_keep                       24\nstop                           "<|start_header_id|>"\n'
            'stop                           "<|end_header_id|>"\nstop                           "<|eot_id|>"')
    assert parse_show_parameters(text) == {"num_keep": 24.0,
                                           "stop": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]}


def variant(**kw):
    raw = {"name": "phi4-mini-coder"}
    raw.update(kw)
    return normalise_variants([raw], "phi4-mini:3.8b")[0]


BASE = {"from": "", "system": "", "template": "{{ .Prompt }}", "parameters": {"stop": ["<|end|>"]}}


def test_effective_follows_create_go() -> None:
    v = variant(system="Code.", parameters={"temperature": 0.5})
    assert effective(BASE, v) == {"from": "phi4-mini:3.8b", "system": "Code.", "template": "{{ .Prompt }}",
                                  "parameters": {"stop": ["<|end|>"], "temperature": 0.5}}
    replaced = effective(BASE, variant(parameters={"stop": "<|x|>"}))
    assert replaced["parameters"]["stop"] == ["<|x|>"]


def test_differences() -> None:
    v = variant(system="Code.\n", parameters={"temperature": 0.5, "num_ctx": 4096})
    show = {"details": {"parent_model": "phi4-mini:3.8b"}, "system": "Code.", "template": "{{ .Prompt }}",
            "parameters": parameters_text({"stop": ["<|end|>"], "temperature": 0.5, "num_ctx": 4096})}
    assert differences(shown(show), effective(BASE, v)) == []
    assert differences(shown(dict(show, system="Other")), effective(BASE, v)) == ["system"]
    other_parent = dict(show, details={"parent_model": "llama3:8b"})
    assert differences(shown(other_parent), effective(BASE, v)) == ["from"]
    assert differences(shown(show), effective(BASE, variant(system="Code.", parameters={"temperature": 0.51, "num_ctx": 4096}))) == [
        "parameters"]


def test_blob_digest_from_the_modelfile() -> None:
    hexd = "a" * 64
    assert blob_digest({"modelfile": "# x\nFROM /root/.ollama/models/blobs/sha256-%s\nPARAMETER a 1" % hexd}) == hexd
    assert blob_digest({"modelfile": "FROM /Users/m/.ollama/models/blobs/sha256:%s\n" % hexd}) == hexd
    assert blob_digest({"modelfile": "FROM phi4-mini:3.8b\n"}) is None


def test_version_tuple() -> None:
    assert version_tuple("0.5.13") > version_tuple("0.5.5") > version_tuple("0.5.4")
    assert version_tuple("0.6.0-rc1") == (0, 6, 0) and version_tuple("v1") == (1, 0, 0)
