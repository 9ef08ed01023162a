"""Clients not written here — the official ``ollama`` Python client and the ``openai`` client on
Ollama's ``/v1`` layer — get from the Ollama API emulator what they get from Ollama.

Both are pinned in requirements.txt. The emulator is not Ollama (none can be obtained here); these
tests keep it honest where the ollama_model module and the engine_ollama role rely on it.
"""

from __future__ import annotations

import hashlib

import ollama
import openai
import pytest

from ollama_api_emulator import OllamaAPIEmulator
from seed_replies import CORRECT

NAME = "phi4-mini:3.8b"
QUESTION = "A train travels 240 km in 3 hours..."


@pytest.fixture
def emu():
    with OllamaAPIEmulator(CORRECT, models=[], registry=[NAME], pull_steps=5) as server:
        yield server


def test_ollama_client_pull_list_show_create_delete(emu) -> None:
    client = ollama.Client(host=emu.url)
    events = list(client.pull(NAME, stream=True))
    assert events[0].status == "pulling manifest" and events[-1].status == "success"
    weights = [e for e in events if e.digest == events[1].digest]
    assert weights[0].completed is None and weights[0].total == 2491876774  # Go omitempty: no "completed": 0
    assert [e.status for e in weights] == ["pulling " + events[1].digest[7:19]] * 6
    assert weights[-1].completed == weights[-1].total
    assert [m.model for m in client.list().models] == [NAME]
    created = client.create(model="phi4-mini-reasoning", from_=NAME, system="Reason step by step.",
                            parameters={"temperature": 0.3, "top_p": 0.8})
    assert created.status == "success"
    shown = client.show("phi4-mini-reasoning")
    assert shown.details.parent_model == NAME and shown.details.quantization_level == "Q4_K_M"
    assert "temperature                    0.3" in shown.parameters and shown.modelinfo["general.architecture"] == "phi3"
    assert "SYSTEM" in shown.modelfile and shown.capabilities == ["completion", "tools"]
    assert client.delete("phi4-mini-reasoning").status == "success"
    with pytest.raises(ollama.ResponseError) as exc:
        client.show("phi4-mini-reasoning")
    assert exc.value.status_code == 404 and "not found" in exc.value.error
    assert client.ps().models == []


def test_ollama_client_gguf_import_through_blobs(emu, tmp_path) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + bytes(4096))
    client = ollama.Client(host=emu.url)
    digest = client.create_blob(gguf)
    assert digest == "sha256:" + hashlib.sha256(gguf.read_bytes()).hexdigest()
    steps = [p.status for p in client.create(model="tiny:1", files={"tiny.gguf": digest}, stream=True)]
    assert steps[0] == "parsing GGUF" and steps[-1] == "success"
    assert client.show("tiny:1").details.parent_model == "tiny.gguf"
    not_gguf = tmp_path / "notes.bin"
    not_gguf.write_bytes(b"hello")
    with pytest.raises(ollama.ResponseError) as exc:
        client.create(model="bad:1", files={"notes.bin": client.create_blob(not_gguf)})
    assert "not in GGUF format" in exc.value.error


def test_ollama_client_chat_and_generate(emu) -> None:
    emu.store.add_pulled(NAME)
    client = ollama.Client(host=emu.url)
    answer = client.chat(model=NAME, messages=[{"role": "user", "content": QUESTION}])
    assert "2.4 hours" in answer.message.content and answer.done_reason == "stop" and answer.eval_count > 0
    streamed = "".join(c.message.content for c in client.chat(model=NAME, messages=[
        {"role": "user", "content": QUESTION}], stream=True))
    assert streamed == answer.message.content
    assert client.generate(model=NAME, prompt=QUESTION).response == answer.message.content


def test_openai_client_on_the_v1_layer(emu) -> None:
    emu.store.add_pulled(NAME)
    client = openai.OpenAI(base_url=emu.url + "/v1", api_key="ollama", max_retries=0)
    models = client.models.list()
    assert [m.id for m in models.data] == [NAME] and models.data[0].owned_by == "library"
    assert client.models.retrieve(NAME).id == NAME
    msgs = [{"role": "user", "content": QUESTION}]
    plain = client.chat.completions.create(model=NAME, messages=msgs)
    assert "2.4 hours" in plain.choices[0].message.content and plain.choices[0].finish_reason == "stop"
    assert plain.system_fingerprint == "fp_ollama" and plain.usage.total_tokens == 20 + plain.usage.completion_tokens
    chunks = list(client.chat.completions.create(model=NAME, messages=msgs, stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="llama3:8b", messages=msgs)
    assert "model 'llama3:8b' not found" in str(exc.value)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=NAME, messages=[])


def test_openai_client_tool_call_arguments_are_a_json_string(emu) -> None:
    emu.store.add_pulled(NAME)
    client = openai.OpenAI(base_url=emu.url + "/v1", api_key="ollama", max_retries=0)
    calls = [e for e in CORRECT if e.get("tool_calls")]
    if not calls:
        pytest.skip("the script has no tool-call entry")
    tools = [{"type": "function", "function": {"name": calls[0]["tool_calls"][0]["name"], "parameters": {}}}]
    reply = client.chat.completions.create(model=NAME, tools=tools,
                                           messages=[{"role": "user", "content": calls[0]["match"]}])
    call = reply.choices[0].message.tool_calls[0]
    assert reply.choices[0].finish_reason == "tool_calls" and isinstance(call.function.arguments, str)
    assert call.function.name == calls[0]["tool_calls"][0]["name"]
