"""Environment configuration: defaults, validation messages, refusal to start."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import serve_command
from slm_engine.config import ConfigError, load_config

pytestmark = pytest.mark.slow  # real tiny model (built once, cached), real processes


def env_for(model: Path, **values: str) -> dict[str, str]:
    return {"SLM_MODEL_DIR": str(model), **values}


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(env)
    return info.value.problems


def test_defaults(tiny_model: Path) -> None:
    config = load_config(env_for(tiny_model))
    assert config.model_id == "tiny-phi3"  # from manifest.json
    assert (config.host, config.port, config.api_key) == ("0.0.0.0", 8000, None)
    assert (config.max_concurrency, config.queue_size) == (4, 16)
    assert config.max_length == 4096 == config.model.context_length
    assert config.default_max_tokens == 512
    assert config.threads >= 1
    assert config.log_level == "info"


def test_explicit_values(tiny_model: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("s3cret-key\n")
    config = load_config(
        env_for(
            tiny_model,
            SLM_MODEL_ID="edge/phi",
            SLM_PORT="9000",
            SLM_API_KEY_FILE=str(key_file),
            SLM_THREADS="3",
            SLM_MAX_CONCURRENCY="2",
            SLM_QUEUE_SIZE="0",
            SLM_MAX_LENGTH="1024",
            SLM_DEFAULT_MAX_TOKENS="100",
            SLM_LOG_LEVEL="DEBUG",
        )
    )
    assert (config.model_id, config.port, config.api_key) == ("edge/phi", 9000, "s3cret-key")
    assert (config.threads, config.max_concurrency, config.queue_size) == (3, 2, 0)
    assert (config.max_length, config.default_max_tokens, config.log_level) == (1024, 100, "debug")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"SLM_PORT": "http"}, "SLM_PORT: got 'http', allowed an integer from 1 to 65535"),
        ({"SLM_PORT": "0"}, "SLM_PORT: got '0'"),
        ({"SLM_THREADS": "-1"}, "SLM_THREADS: got '-1', allowed an integer from 1 to 256"),
        ({"SLM_MAX_CONCURRENCY": "2.5"}, "SLM_MAX_CONCURRENCY: got '2.5'"),
        ({"SLM_QUEUE_SIZE": "many"}, "SLM_QUEUE_SIZE: got 'many'"),
        ({"SLM_MAX_LENGTH": "99999"}, "(the model's context_length is 4096)"),
        ({"SLM_MAX_LENGTH": "64", "SLM_DEFAULT_MAX_TOKENS": "64"}, "less than SLM_MAX_LENGTH"),
        ({"SLM_LOG_LEVEL": "loud"}, "SLM_LOG_LEVEL: got 'loud', allowed one of debug, info"),
        ({"SLM_MODEL_ID": "bad id!"}, "SLM_MODEL_ID: got 'bad id!'"),
        ({"SLM_HOST": "a b"}, "SLM_HOST: got 'a b'"),
        ({"SLM_API_KEY": "has space"}, "SLM_API_KEY: the API key must be"),
        ({"SLM_API_KEY": "a", "SLM_API_KEY_FILE": "/x"}, "both set"),
        ({"SLM_API_KEY_FILE": "/nonexistent/key"}, "SLM_API_KEY_FILE: cannot read"),
        ({"SLM_BATCH_WINDOW_MS": "-3"}, "SLM_BATCH_WINDOW_MS: got '-3'"),
    ],
)
def test_bad_values_are_named(tiny_model: Path, values: dict[str, str], expected: str) -> None:
    found = problems(env_for(tiny_model, **values))
    assert any(expected in p for p in found), found


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    found = problems({"SLM_MODEL_DIR": str(tmp_path / "nope"), "SLM_PORT": "x", "SLM_THREADS": "0"})
    assert len(found) == 3
    assert "SLM_MODEL_DIR: " in found[0] and "is not a directory" in found[0]


def test_model_dir_without_genai_config(tmp_path: Path) -> None:
    (found,) = problems({"SLM_MODEL_DIR": str(tmp_path)})
    assert found.startswith("SLM_MODEL_DIR: ")
    assert "genai_config.json does not exist" in found


def test_serve_refuses_bad_configuration(tiny_model: Path) -> None:
    env = {
        **os.environ,
        "SLM_MODEL_DIR": str(tiny_model),
        "SLM_PORT": "70000",
        "SLM_MAX_CONCURRENCY": "zero",
    }
    proc = subprocess.run(
        serve_command(), env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "SLM_PORT: got '70000', allowed an integer from 1 to 65535" in proc.stderr
    assert "SLM_MAX_CONCURRENCY: got 'zero'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_body_limit_and_connection_cap(tiny_model: Path) -> None:
    config = load_config(env_for(tiny_model))
    assert (config.max_body_bytes, config.max_connections) == (2**20, 128)
    config = load_config(env_for(tiny_model, SLM_QUEUE_SIZE="100"))
    assert config.max_connections == 208  # twice slots + queue when that is more than 128
    config = load_config(env_for(tiny_model, SLM_MAX_BODY_BYTES="65536", SLM_MAX_CONNECTIONS="20"))
    assert (config.max_body_bytes, config.max_connections) == (65536, 20)
    assert problems(env_for(tiny_model, SLM_MAX_CONNECTIONS="19")) == [
        (
            "SLM_MAX_CONNECTIONS: got '19', allowed an integer from 20 to 1000000 "
            "(at least SLM_MAX_CONCURRENCY + SLM_QUEUE_SIZE = 20)"
        )
    ]
    assert problems(env_for(tiny_model, SLM_MAX_BODY_BYTES="1k")) == [
        "SLM_MAX_BODY_BYTES: got '1k', allowed an integer from 1024 to 67108864"
    ]
