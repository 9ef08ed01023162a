"""slm_chat main() in-process against the scripted OpenAI server and the Ollama API emulator."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.edgeai.slm_fleet.plugins.modules import slm_chat
from ollama_api_emulator import OllamaAPIEmulator
from openai_script_server import ScriptedOpenAIServer
from seed_replies import CORRECT

MODEL = "microsoft/Phi-4-mini-instruct"
KEY = "sk-chat-secret-42"


def test_answers_with_the_key_read_from_a_file(run_module, tmp_path: Path) -> None:
    key_file = tmp_path / "api_key"
    key_file.write_text(KEY + "\n")
    with ScriptedOpenAIServer(CORRECT, api_key=KEY) as srv:
        r = run_module(slm_chat.main, {"url": srv.url, "model": MODEL, "api_key_file": str(key_file),
                                       "question": "What is the capital of France?"})
        sent = [req["headers"].get("authorization") for req in srv.requests]
    assert r["_rc"] == 0 and r["changed"] is False and r["answer"].strip()
    assert f"Bearer {KEY}" in sent, "the key from the file reached the server"
    assert KEY not in r["_stdout"], "the key never appears in the module's output"


def test_a_missing_key_file_fails_clearly_without_a_request(run_module, tmp_path: Path) -> None:
    with ScriptedOpenAIServer(CORRECT, api_key=KEY) as srv:
        r = run_module(slm_chat.main, {"url": srv.url, "model": MODEL, "api_key_file": str(tmp_path / "nope"),
                                       "question": "hi"})
        assert not [req for req in srv.requests if req["path"].startswith("/v1/chat")]
    assert r["_rc"] == 1 and r["msg"].startswith(f"api_key_file {tmp_path / 'nope'} cannot be read")


def test_wrong_key_is_a_failure_naming_the_engine(run_module, tmp_path: Path) -> None:
    with ScriptedOpenAIServer(CORRECT, api_key=KEY) as srv:
        r = run_module(slm_chat.main, {"url": srv.url, "model": MODEL, "api_key": "wrong", "question": "hi"})
    assert r["_rc"] == 1 and "did not answer" in r["msg"] and "401" in r["msg"]


def test_key_and_key_file_together_are_refused(run_module, tmp_path: Path) -> None:
    r = run_module(slm_chat.main, {"url": "http://127.0.0.1:1", "model": MODEL, "api_key": "k-one-two",
                                   "api_key_file": str(tmp_path / "k"), "question": "hi"})
    assert r["_rc"] == 1 and "mutually exclusive" in r["msg"]


def test_ollama_api_through_the_emulator(run_module) -> None:
    with OllamaAPIEmulator(CORRECT) as emu:
        r = run_module(slm_chat.main, {"url": emu.url, "api": "ollama", "model": "phi4-mini", "question": "hi"})
    assert r["_rc"] == 0 and isinstance(r["answer"], str) and r["answer"]
