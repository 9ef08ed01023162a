"""ollama_model main() in-process against the Ollama API emulator (tests/servers).

What the module changes is asserted through the emulator's record of calls: a second run must make
no pull and no create, check mode no write at all.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.modules import ollama_model
from ollama_api_emulator import OllamaAPIEmulator
from seed_replies import CORRECT

NAME = "phi4-mini:3.8b"
# The seed tutorial's two Modelfile variants, as module options.
SEED_VARIANTS = [
    {"name": "phi4-mini-reasoning", "parameters": {"temperature": 0.3, "top_p": 0.8},
     "system": "You are an expert reasoning assistant specialized in mathematics, logic, and code analysis.\n"
               "Always think step by step and show your work clearly.\n"
               "For mathematical problems, break down each calculation.\n"
               "For coding problems, explain your approach and include comments."},
    {"name": "phi4-mini-coder", "parameters": {"temperature": 0.5, "top_p": 0.9},
     "system": "You are a coding assistant specialized in writing clean, efficient, and well-documented code.\n"
               "Always include detailed comments explaining your approach.\n"
               "Follow best practices for the target programming language.\n"
               "Provide examples and test cases when helpful."},
]


@pytest.fixture
def emu():
    with OllamaAPIEmulator(CORRECT, models=[], registry=[NAME], pull_steps=8) as server:
        yield server


def args(emu, **extra):
    base = {"url": emu.url, "name": NAME, "variants": copy.deepcopy(SEED_VARIANTS)}
    base.update(extra)
    return base


def writes(emu):
    return [(c["method"], c["path"], c["model"]) for c in emu.writes()]


def test_first_run_pulls_and_creates_second_run_only_reads(run_module, emu) -> None:
    first = run_module(ollama_model.main, args(emu))
    assert first["_rc"] == 0 and first["changed"] is True, first
    assert writes(emu) == [("POST", "/api/pull", NAME), ("POST", "/api/create", "phi4-mini-reasoning:latest"),
                           ("POST", "/api/create", "phi4-mini-coder:latest")]
    assert [a["action"] for a in first["actions"]] == ["pull", "create", "create"]
    assert first["pull_progress"]["outcome"] == "success" and first["pull_progress"]["percent"] == 100.0
    assert first["pull_progress"]["resumed_from_bytes"] == 0
    shown = emu.store.show("phi4-mini-coder:latest")
    assert shown["system"] == SEED_VARIANTS[1]["system"] and "temperature                    0.5" in shown["parameters"]
    assert shown["details"]["parent_model"] == NAME
    emu.clear_calls()
    second = run_module(ollama_model.main, args(emu))
    assert second["_rc"] == 0 and second["changed"] is False and second["actions"] == []
    assert writes(emu) == [] and second["pull_progress"] is None
    assert [c["path"] for c in emu.calls()] == ["/api/version", "/api/tags", "/api/show", "/api/show", "/api/show"]
    assert set(second["models"]) == {NAME, "phi4-mini-reasoning:latest", "phi4-mini-coder:latest"}


def test_variant_recreated_only_when_show_differs(run_module, emu) -> None:
    run_module(ollama_model.main, args(emu))
    variants = copy.deepcopy(SEED_VARIANTS)
    variants[1]["parameters"]["temperature"] = "0.7"            # a string from an inventory
    variants[0]["system"] = SEED_VARIANTS[0]["system"] + "\n\n"  # trailing whitespace: no change
    emu.clear_calls()
    r = run_module(ollama_model.main, args(emu, variants=variants, _ansible_diff=True))
    assert r["changed"] is True and writes(emu) == [("POST", "/api/create", "phi4-mini-coder:latest")]
    assert r["actions"] == [{"action": "update", "model": "phi4-mini-coder:latest",
                             "reason": "/api/show differs in parameters"}]
    assert r["diff"]["before"]["phi4-mini-coder:latest"]["parameters"]["temperature"] == 0.5
    assert r["diff"]["after"]["phi4-mini-coder:latest"]["parameters"]["temperature"] == 0.7
    assert "0.7" in emu.store.show("phi4-mini-coder:latest")["parameters"]


def test_variant_changed_behind_the_modules_back_is_put_back(run_module, emu) -> None:
    run_module(ollama_model.main, args(emu))
    emu.store.models["phi4-mini-reasoning:latest"]["system"] = "someone edited this"
    emu.clear_calls()
    r = run_module(ollama_model.main, args(emu))
    assert writes(emu) == [("POST", "/api/create", "phi4-mini-reasoning:latest")]
    assert r["actions"][0]["reason"] == "/api/show differs in system"


def test_check_mode_writes_nothing_and_reports_the_plan(run_module, emu) -> None:
    r = run_module(ollama_model.main, args(emu, _ansible_check_mode=True, _ansible_diff=True))
    assert r["_rc"] == 0 and r["changed"] is True
    assert [a["action"] for a in r["actions"]] == ["pull", "create", "create"]
    assert writes(emu) == [] and emu.models == {}
    assert r["diff"]["before"]["phi4-mini-coder:latest"] == "absent"
    assert r["diff"]["after"]["phi4-mini-coder:latest"]["system"] == SEED_VARIANTS[1]["system"]


def test_undeclared_variant_kept_unless_pruning_is_asked(run_module, emu) -> None:
    run_module(ollama_model.main, args(emu))
    emu.clear_calls()
    kept = run_module(ollama_model.main, args(emu, variants=SEED_VARIANTS[:1]))
    assert kept["changed"] is False and writes(emu) == [] and "phi4-mini-coder:latest" in emu.models
    checked = run_module(ollama_model.main, args(emu, variants=SEED_VARIANTS[:1], prune_variants=True,
                                                 _ansible_check_mode=True))
    assert checked["changed"] is True and writes(emu) == []
    pruned = run_module(ollama_model.main, args(emu, variants=SEED_VARIANTS[:1], prune_variants=True))
    assert pruned["actions"] == [{"action": "delete", "model": "phi4-mini-coder:latest",
                                  "reason": "created from %s but not declared (prune_variants)" % NAME}]
    assert writes(emu) == [("DELETE", "/api/delete", "phi4-mini-coder:latest")]
    assert NAME in emu.models and "phi4-mini-reasoning:latest" in emu.models


def test_variant_state_absent_and_module_state_absent(run_module, emu) -> None:
    run_module(ollama_model.main, args(emu))
    variants = copy.deepcopy(SEED_VARIANTS)
    variants[0]["state"] = "absent"
    r = run_module(ollama_model.main, args(emu, variants=variants))
    assert [a["action"] for a in r["actions"]] == ["delete"] and "phi4-mini-reasoning:latest" not in emu.models
    gone = run_module(ollama_model.main, args(emu, state="absent"))
    assert [a["model"] for a in gone["actions"]] == ["phi4-mini-coder:latest", NAME] and emu.models == {}
    again = run_module(ollama_model.main, args(emu, state="absent"))
    assert again["changed"] is False


@pytest.mark.parametrize("name, why", [("phi4-mini", "has no tag"), ("phi4-mini:latest", "floating tag 'latest'"),
                                       ("phi4-mini:LATEST", "floating tag 'latest'"), ("bad name!", "not a valid")])
def test_unpinned_or_invalid_names_are_refused_before_any_call(run_module, emu, name, why) -> None:
    r = run_module(ollama_model.main, args(emu, name=name))
    assert r["_rc"] == 1 and why in r["msg"] and repr(name) in r["msg"]
    assert emu.calls() == []


@pytest.mark.parametrize("variants, words", [
    ([{"name": "v", "parameters": {"temprature": 0.3}}], "unknown key 'temprature'"),
    ([{"name": "v", "parameters": {"num_ctx": "lots"}}], "num_ctx='lots': must be an integer"),
    ([{"name": "v"}, {"name": "v:latest"}], "declared twice"),
    ([{"name": "v", "template": "{{ .Prompt "}], "unbalanced"),
])
def test_bad_variants_are_refused_before_any_call(run_module, emu, variants, words) -> None:
    r = run_module(ollama_model.main, args(emu, variants=variants))
    assert r["_rc"] == 1 and words in r["msg"] and emu.calls() == []


def test_variant_from_an_unknown_base_fails_without_writing(run_module, emu) -> None:
    emu.store.add_pulled(NAME)
    r = run_module(ollama_model.main, args(emu, variants=[{"name": "v", "from": "llama3:8b"}]))
    assert r["_rc"] == 1 and "its base 'llama3:8b' is not on the host" in r["msg"] and writes(emu) == []


def test_interrupted_pull_fails_clearly_and_the_next_run_resumes(run_module, emu, tmp_path) -> None:
    log = tmp_path / "pull.log"
    emu.interrupt_pull_after_steps = 4  # of 8 steps for the weights layer: cut at half-way
    cut = run_module(ollama_model.main, args(emu, progress_file=str(log)))
    assert cut["_rc"] == 1 and "stopped at" in cut["msg"] and "run the task again to resume" in cut["msg"]
    assert cut["pull_progress"]["outcome"] == "interrupted" and 40 <= cut["pull_progress"]["percent"] <= 60
    assert NAME not in emu.models and writes(emu) == [("POST", "/api/pull", NAME)]
    done = run_module(ollama_model.main, args(emu, progress_file=str(log)))
    assert done["_rc"] == 0 and done["pull_progress"]["outcome"] == "success"
    assert done["pull_progress"]["resumed_from_bytes"] == cut["pull_progress"]["bytes_completed"]
    text = log.read_text()
    assert "outcome=interrupted" in text and "outcome=success" in text and "resumed from 1.25 GB" in text


def test_pull_of_a_tag_the_registry_lacks(run_module, emu) -> None:
    r = run_module(ollama_model.main, args(emu, name="phi4-mini:9.9b", variants=[]))
    assert r["_rc"] == 1 and "pull model manifest: file does not exist" in r["msg"]
    assert r["pull_progress"]["outcome"] == "failed"


def test_too_old_ollama_is_refused(run_module) -> None:
    with OllamaAPIEmulator(CORRECT, models=[], registry=[NAME], version="0.5.4") as old:
        r = run_module(ollama_model.main, args(old))
        assert r["_rc"] == 1 and "too old" in r["msg"] and old.writes() == []


def gguf_file(tmp_path: Path) -> tuple:
    path = tmp_path / "phi4-mini-Q4_K_M.gguf"
    path.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + bytes(range(256)) * 64)
    return str(path), hashlib.sha256(path.read_bytes()).hexdigest()


def test_gguf_import_through_blobs_then_idempotent(run_module, tmp_path) -> None:
    path, digest = gguf_file(tmp_path)
    with OllamaAPIEmulator(CORRECT, models=[], registry=[]) as emu:  # air-gapped: nothing to pull
        first = run_module(ollama_model.main, args(emu, from_gguf={"path": path, "sha256": digest}))
        assert first["_rc"] == 0, first
        assert [(c["method"], c["path"]) for c in emu.calls() if c["path"].startswith("/api/blobs")] == [
            ("HEAD", "/api/blobs/sha256:" + digest), ("POST", "/api/blobs/sha256:" + digest)]
        assert writes(emu)[1:] == [("POST", "/api/create", NAME), ("POST", "/api/create", "phi4-mini-reasoning:latest"),
                                   ("POST", "/api/create", "phi4-mini-coder:latest")]
        creates = [r["body"] for r in emu.requests if r["path"] == "/api/create"]
        assert creates[0]["files"] == {"phi4-mini-Q4_K_M.gguf": "sha256:" + digest} and "from" not in creates[0]
        emu.clear_calls()
        second = run_module(ollama_model.main, args(emu, from_gguf={"path": path, "sha256": digest}))
        assert second["changed"] is False and writes(emu) == []


def test_gguf_with_a_wrong_checksum_changes_nothing(run_module, tmp_path) -> None:
    path, _digest = gguf_file(tmp_path)
    with OllamaAPIEmulator(CORRECT, models=[], registry=[]) as emu:
        r = run_module(ollama_model.main, args(emu, from_gguf={"path": path, "sha256": "0" * 64}))
        assert r["_rc"] == 1 and "expected " + "0" * 64 in r["msg"] and "stage it again" in r["msg"]
        assert writes(emu) == [] and emu.store.blobs == {}
        missing = run_module(ollama_model.main, args(emu, from_gguf={"path": path + ".nope", "sha256": "0" * 64}))
        assert missing["_rc"] == 1 and "does not exist on the host" in missing["msg"]


def test_model_from_another_gguf_is_imported_again(run_module, tmp_path) -> None:
    path, digest = gguf_file(tmp_path)
    with OllamaAPIEmulator(CORRECT, models=[NAME], registry=[]) as emu:  # present, but pulled weights
        r = run_module(ollama_model.main, args(emu, variants=[], from_gguf={"path": path, "sha256": digest}))
        assert r["actions"][0]["action"] == "import" and "declared GGUF is " + digest[:12] in r["actions"][0]["reason"]
        assert emu.store.models[NAME]["model_digest"] == "sha256:" + digest


def test_library_prefixed_name_is_the_listed_model(run_module, emu) -> None:
    run_module(ollama_model.main, args(emu))
    emu.clear_calls()
    r = run_module(ollama_model.main, args(emu, name="library/" + NAME))
    assert r["changed"] is False and writes(emu) == []


def test_digest_pin_is_checked_after_the_pull_and_on_every_run(run_module, emu) -> None:
    wrong = run_module(ollama_model.main, args(emu, digest="0123456789ab", variants=[]))
    assert wrong["_rc"] == 1 and "digest=0123456789ab was declared" in wrong["msg"] and NAME in emu.models
    listed = emu.store.tag_entry(NAME)["digest"]
    right = run_module(ollama_model.main, args(emu, digest=listed[:12]))
    assert right["_rc"] == 0 and [a["action"] for a in right["actions"]] == ["create", "create"]
    emu.store.models[NAME]["parameters"]["num_ctx"] = 8192  # the tag now names other content
    moved = run_module(ollama_model.main, args(emu, digest="sha256:" + listed))
    assert moved["_rc"] == 1 and "the registry moved the tag" in moved["msg"]
    bad = run_module(ollama_model.main, args(emu, digest="xyz"))
    assert bad["_rc"] == 1 and "12 to 64 hex digits" in bad["msg"]
