"""`slm-engine serve` configuration, read only from environment variables and validated up front.

Every problem is reported at once, each naming the variable, the value given and what is allowed,
so that an operator fixes a rendered env file in one pass. Nothing here writes to disk: the model
directory is mounted read-only in production.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
DEFAULT_MAX_LENGTH_CAP = 4096
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")
_HOST = re.compile(r"^[A-Za-z0-9.:-]{1,253}$")
_API_KEY = re.compile(r"^[\x21-\x7e]{1,4096}$")  # printable ASCII, no spaces


class ConfigError(Exception):
    """One or more environment variables are invalid; str() lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ModelInfo:
    """What the server needs to know about a model directory before loading it."""

    context_length: int
    num_hidden_layers: int
    num_key_value_heads: int
    head_size: int
    dynamic_batching: bool
    manifest_model_id: str | None

    def kv_cache_bytes(self, slots: int, max_length: int) -> int:
        """Upper bound of the float32 KV cache for `slots` sequences of `max_length` tokens."""
        per_token = 2 * self.num_hidden_layers * self.num_key_value_heads * self.head_size * 4
        return slots * max_length * per_token


@dataclass(frozen=True)
class ServeConfig:
    """Validated server settings (see engine/README.md for the variables)."""

    model_dir: Path
    model_id: str
    host: str
    port: int
    api_key: str | None
    threads: int
    max_concurrency: int
    queue_size: int
    max_length: int
    default_max_tokens: int
    batch_window_ms: float
    log_level: str
    model: ModelInfo
    max_body_bytes: int = 2**20
    max_connections: int = 128
    prefix_cache_mib: int = 0
    prompt_lookup_drafts: int = 0  # 0: off; see lookup_decoding.py
    prefix_generators_mib: int = 0  # 0: off; see generator_pool.py

    def sequences_in(self, mib: int) -> int:
        """How many sequences' KV state fits in `mib` MiB, each counted at SLM_MAX_LENGTH tokens."""
        return mib * 2**20 // self.model.kv_cache_bytes(1, self.max_length)

    @property
    def prefix_cache_sessions(self) -> int:
        """Idle conversations held for their next turn (SLM_PREFIX_CACHE_MIB)."""
        return self.sequences_in(self.prefix_cache_mib)

    @property
    def prefix_generators(self) -> int:
        """Idle og.Generators held for shared-prefix reuse (SLM_PREFIX_GENERATORS_MIB)."""
        return self.sequences_in(self.prefix_generators_mib)


def available_cpus() -> int:
    """CPUs this process may use: the affinity mask, capped by a cgroup v2 CPU quota if any."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def read_model_info(model_dir: Path) -> ModelInfo:
    """Read genai_config.json (and manifest.json if present); raises ValueError when unusable."""
    config_path = model_dir / "genai_config.json"
    try:
        genai = json.loads(config_path.read_text())
        model = genai["model"]
        decoder = model["decoder"]
        info = ModelInfo(
            context_length=int(model["context_length"]),
            num_hidden_layers=int(decoder["num_hidden_layers"]),
            num_key_value_heads=int(decoder["num_key_value_heads"]),
            head_size=int(decoder["head_size"]),
            dynamic_batching="dynamic_batching" in genai.get("engine", {}),
            manifest_model_id=None,
        )
    except FileNotFoundError:
        raise ValueError(
            f"{config_path} does not exist (expected a model directory written by "
            "`slm-engine build` or onnxruntime_genai.models.builder)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{config_path} is not a usable genai_config.json: {exc!r}") from None
    try:
        manifest = json.loads((model_dir / "manifest.json").read_text())
        model_id = manifest.get("model_id") if isinstance(manifest, dict) else None
    except (OSError, ValueError):
        model_id = None
    if isinstance(model_id, str) and model_id:
        info = ModelInfo(**{**info.__dict__, "manifest_model_id": model_id})
    return info


class _Reader:
    """Collects problems while converting environment values."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str | None) -> str | None:
        value = self.env.get(name)
        return default if value is None or value == "" else value

    def integer(self, name: str, default: int, lo: int, hi: int, what: str = "") -> int:
        raw = self.text(name, None)
        if raw is None:
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            self.problems.append(f"{name}: got {raw!r}, allowed an integer from {lo} to {hi}{what}")
            return default
        return value

    def number(self, name: str, default: float, lo: float, hi: float) -> float:
        raw = self.text(name, None)
        if raw is None:
            return default
        try:
            value = float(raw.strip())
        except ValueError:
            value = math.nan
        if not lo <= value <= hi:
            self.problems.append(f"{name}: got {raw!r}, allowed a number from {lo:g} to {hi:g}")
            return default
        return value


def _api_key(r: _Reader) -> str | None:
    key, key_file = r.text("SLM_API_KEY", None), r.text("SLM_API_KEY_FILE", None)
    if key is not None and key_file is not None:
        r.problems.append("SLM_API_KEY and SLM_API_KEY_FILE are both set: set only one")
        return None
    if key_file is not None:
        try:
            key = Path(key_file).read_text().strip()
        except OSError as exc:
            r.problems.append(f"SLM_API_KEY_FILE: cannot read {key_file!r}: {exc.strerror}")
            return None
        source = f"the file {key_file!r}"
    else:
        source = "SLM_API_KEY"
    if key is not None and not _API_KEY.match(key):
        r.problems.append(
            f"{source}: the API key must be 1-4096 printable ASCII characters without spaces"
        )
        return None
    return key


def load_config(env: Mapping[str, str] | None = None) -> ServeConfig:
    """Build a ServeConfig from `env` (default os.environ); raises ConfigError listing problems."""
    r = _Reader(os.environ if env is None else env)
    model_dir = Path(r.text("SLM_MODEL_DIR", "/model") or "/model")
    model: ModelInfo | None = None
    if not model_dir.is_dir():
        r.problems.append(f"SLM_MODEL_DIR: {str(model_dir)!r} is not a directory")
    else:
        try:
            model = read_model_info(model_dir)
        except ValueError as exc:
            r.problems.append(f"SLM_MODEL_DIR: {exc}")

    model_id = r.text("SLM_MODEL_ID", None)
    if model_id is None:
        model_id = (model.manifest_model_id if model else None) or model_dir.name or "model"
    elif not _MODEL_ID.match(model_id):
        r.problems.append(
            f"SLM_MODEL_ID: got {model_id!r}, allowed 1-128 characters from "
            "letters, digits and ._:/@+- (starting with a letter or digit)"
        )

    host = r.text("SLM_HOST", "0.0.0.0") or "0.0.0.0"
    if not _HOST.match(host):
        r.problems.append(f"SLM_HOST: got {host!r}, allowed an IP address or a host name")
    port = r.integer("SLM_PORT", 8000, 1, 65535)
    api_key = _api_key(r)
    threads = r.integer("SLM_THREADS", available_cpus(), 1, 256)
    max_concurrency = r.integer("SLM_MAX_CONCURRENCY", 4, 1, 256)
    queue_size = r.integer("SLM_QUEUE_SIZE", 16, 0, 100_000)
    context = model.context_length if model else DEFAULT_MAX_LENGTH_CAP
    max_length = r.integer(
        "SLM_MAX_LENGTH",
        min(context, DEFAULT_MAX_LENGTH_CAP),
        16,
        context,
        f" (the model's context_length is {context})" if model else "",
    )
    default_max_tokens = r.integer(
        "SLM_DEFAULT_MAX_TOKENS",
        min(512, max_length - 1),
        1,
        max_length - 1,
        " (less than SLM_MAX_LENGTH)",
    )
    batch_window_ms = r.number("SLM_BATCH_WINDOW_MS", 10.0, 0.0, 1000.0)
    max_body_bytes = r.integer("SLM_MAX_BODY_BYTES", 2**20, 1024, 64 * 2**20)
    prefix_cache_mib = r.integer("SLM_PREFIX_CACHE_MIB", 0, 0, 1_048_576)
    prompt_lookup_drafts = r.integer(
        "SLM_PROMPT_LOOKUP_DRAFTS", 0, 0, 16, " (0 turns prompt-lookup drafts off)"
    )
    prefix_generators_mib = r.integer(
        "SLM_PREFIX_GENERATORS_MIB", 0, 0, 1_048_576, " (0 turns shared-prefix reuse off)"
    )
    in_flight = max_concurrency + queue_size
    max_connections = r.integer(
        "SLM_MAX_CONNECTIONS",
        max(128, 2 * in_flight),
        in_flight,
        1_000_000,
        f" (at least SLM_MAX_CONCURRENCY + SLM_QUEUE_SIZE = {in_flight})",
    )
    log_level = (r.text("SLM_LOG_LEVEL", "info") or "info").lower()
    if log_level not in LOG_LEVELS:
        r.problems.append(
            f"SLM_LOG_LEVEL: got {log_level!r}, allowed one of {', '.join(LOG_LEVELS)}"
        )

    if r.problems or model is None:
        raise ConfigError(r.problems)
    return ServeConfig(
        model_dir=model_dir,
        model_id=model_id,
        host=host,
        port=port,
        api_key=api_key,
        threads=threads,
        max_concurrency=max_concurrency,
        queue_size=queue_size,
        max_length=max_length,
        default_max_tokens=default_max_tokens,
        batch_window_ms=batch_window_ms,
        log_level=log_level,
        model=model,
        max_body_bytes=max_body_bytes,
        max_connections=max_connections,
        prefix_cache_mib=prefix_cache_mib,
        prompt_lookup_drafts=prompt_lookup_drafts,
        prefix_generators_mib=prefix_generators_mib,
    )
