# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tables behind the deployment decisions: profiles, engines, runtime overheads, the model catalog.

Sizes in MiB. ``docs/deployment_profiles.md`` explains each value and its source.
"""

from __future__ import annotations

from typing import Any


MIB = 1024 * 1024

GIB_MB = 1024

PROFILES = ("development", "production_cpu", "production_gpu", "edge_optimized")

#: Order of the automatic choice; ``development`` is only ever chosen when requested.
AUTO_ORDER = ("production_gpu", "production_cpu", "edge_optimized")

#: DESIGN.md section 4. RAM and VRAM minimums are for *installed* memory; the check accepts
#: ``memory_tolerance_pct`` less, because the kernel and firmware keep part of it (a "4 GB"
#: Raspberry Pi 4 reports 3.7 GiB, an 8 GB Jetson Orin Nano 7.4 GiB). Disk is free space.
DEFAULT_THRESHOLDS: dict[str, Any] = {
    "memory_tolerance_pct": 10,
    "development": {"min_ram_gb": 6, "rec_ram_gb": 8, "min_disk_gb": 8},
    "production_cpu": {"min_ram_gb": 8, "rec_ram_gb": 12, "min_disk_gb": 10},
    "production_gpu": {
        "min_ram_gb": 6, "rec_ram_gb": 8, "min_vram_gb": 4, "rec_vram_gb": 6, "min_disk_gb": 8,
        "min_compute_capability": "7.0",
    },
    "edge_optimized": {"min_ram_gb": 4, "rec_ram_gb": 6, "min_disk_gb": 6},
}

THRESHOLD_KEYS = ("min_ram_gb", "rec_ram_gb", "min_vram_gb", "rec_vram_gb", "min_disk_gb", "min_compute_capability")

ENGINES = ("ollama", "onnx", "vllm")

#: Per profile: default engine, engines a site may prefer instead, and default serving shape.
#: ``context`` is the wanted context per sequence, halved down to ``min_context`` when memory is short.
#: edge_optimized accepts 1024 tokens: on a 4 GB board the int4 model's fp32 KV cache allows no more.
PROFILE_ENGINES: dict[str, dict[str, Any]] = {
    "production_gpu": {"engine": "vllm", "allowed": ("vllm", "ollama"), "context": 8192, "min_context": 2048,
                       "parallel": 8, "keep_alive": "-1"},
    "production_cpu": {"engine": "ollama", "allowed": ("ollama", "onnx", "vllm"), "context": 4096,
                       "min_context": 2048, "parallel": 2, "keep_alive": "-1"},
    "edge_optimized": {"engine": "onnx", "allowed": ("onnx", "ollama"), "context": 2048, "min_context": 1024,
                       "parallel": 1, "keep_alive": "-1"},
    "development": {"engine": "ollama", "allowed": ("ollama", "onnx", "vllm"), "context": 4096, "min_context": 2048,
                    "parallel": 1, "keep_alive": "5m"},
}

#: Memory an engine process needs beyond weights and KV cache (MiB); estimates, overridable.
RUNTIME_MB = {
    "vllm_gpu": 1024,  # CUDA context, activations of a prefill chunk, CUDA graphs
    "vllm_gpu_lean": 640,  # the same with --enforce-eager (no CUDA graphs)
    "vllm_cpu": 2048,  # torch + vLLM worker on the CPU build
    "vllm_host": 1024,  # vLLM's Python process in RAM, counted on unified-memory boards
    "ollama": 512,  # ollama server + llama.cpp compute buffers
    "onnx": 400,  # the project's FastAPI server + ONNX Runtime arenas
}

DEFAULT_PREFERENCES: dict[str, Any] = {
    "engine": None,
    "variant": None,
    "allow_vllm_cpu": False,
    "context": None,
    "parallel": None,
    "min_context": None,
    "keep_alive": None,
    "gpu_memory_utilization": None,
    "os_reserve_mb": 512,
    "max_threads": 8,
    "runtime_mb": None,
}

#: Minimum CUDA compute capability of vLLM (Volta).
VLLM_MIN_COMPUTE_CAPABILITY = "7.0"

#: Phi-4-mini-instruct (3.8 B). Geometry from its config.json; sizes in MiB (see docs for sources).
PHI4_MINI: dict[str, Any] = {
    "name": "phi-4-mini-instruct",
    "geometry": {
        "vocab_size": 200064, "hidden_size": 3072, "num_layers": 32, "num_attention_heads": 24,
        "num_kv_heads": 8, "head_dim": 128, "intermediate_size": 8192, "max_context": 131072,
        "tied_embeddings": True, "rope": "longrope",
    },
    "tool_call_parser": "phi4_mini_json",
    "variants": {
        # 3.836 B parameters x 2 bytes = 7.67 GB = 7317 MiB.
        "bf16": {"engine": "vllm", "quantization": "bf16", "dtype": "bfloat16", "weights_mb": 7317,
                 "kv_bytes": 2, "min_compute_capability": "8.0"},
        "fp16": {"engine": "vllm", "quantization": "fp16", "dtype": "float16", "weights_mb": 7317,
                 "kv_bytes": 2, "min_compute_capability": "7.0"},
        # Estimate: 3.22 B linear weights at 4 bit + group-128 scales/zeros + the bf16 tied embedding.
        "awq": {"engine": "vllm", "quantization": "awq", "dtype": "float16", "weights_mb": 2770,
                "kv_bytes": 2, "min_compute_capability": "7.5", "needs_checkpoint": "AWQ"},
        # Ollama's phi4-mini tag (Q4_K_M GGUF, ~2.5 GB); needs Ollama >= 0.5.13; f16 KV cache.
        "q4_k_m": {"engine": "ollama", "quantization": "Q4_K_M", "tag": "phi4-mini", "weights_mb": 2500,
                   "kv_bytes": 2, "min_engine_version": "0.5.13"},
        # onnxruntime-genai builder, -p int4 -e cpu, shared int4 embeddings (measured ~2.45 GB).
        # CPU int4 models keep inputs/outputs in fp32, so the KV cache is fp32 (4 bytes).
        "onnx_int4": {"engine": "onnx", "quantization": "int4", "weights_mb": 2450, "kv_bytes": 4,
                      "shared_embeddings": True},
        # Microsoft's older prebuilt CPU int4 export keeps the 200k-row embedding in fp32 (~4.9 GB).
        "onnx_int4_prebuilt": {"engine": "onnx", "quantization": "int4", "weights_mb": 4900, "kv_bytes": 4,
                               "shared_embeddings": False},
    },
    # Candidate variants per engine, best first.
    "defaults": {"vllm": ["bf16", "fp16", "awq"], "vllm_cpu": ["bf16"], "ollama": ["q4_k_m"], "onnx": ["onnx_int4"]},
}

MODEL_CATALOG = {PHI4_MINI["name"]: PHI4_MINI}

DEFAULT_MODEL = PHI4_MINI["name"]

GEOMETRY_KEYS = ("num_layers", "num_kv_heads", "head_dim", "max_context")

#: Memory a container may use above its engine's budget (allocator slack, the API process, page cache
#: of small files) before the kernel stops it: the engine roles' container limit is budget + this.
CONTAINER_HEADROOM_MB = 512

#: OS ID -> oldest supported VERSION_ID (Docker Engine + Compose v2 available, Python 3.8+).
DEFAULT_SUPPORTED_OS = {"debian": "12", "ubuntu": "22.04", "raspbian": "12"}
