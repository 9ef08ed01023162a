"""State of the Ollama API EMULATOR (tests and lab only — not Ollama): models, blobs, pulls.

Keeps what an Ollama server keeps on disk, in memory: manifests (``models``), complete blobs
(``blobs``), partially downloaded blobs (``partial``, Ollama's ``<blob>-partial-N`` files) and the
"registry" the emulator can pull from. The shapes follow ollama/ollama: ``server/images.go``
(``PullModel``, ``GetModel``: ``parent_model`` is the ``from`` of the model layer),
``server/create.go`` (``setParameters`` merges the base model's parameters under the new ones,
``setSystem``/``setTemplate`` replace only when given), ``server/routes.go`` (``GetModelInfo``:
``parameters`` is one ``"%-30s %#v"`` line per value, list values one line each) and
``manifest/paths.go`` (blob digests match ``^sha256[:-][0-9a-fA-F]{64}$``).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from typing import Any, Dict, List

CREATED_AT = "2025-01-01T00:00:00.000000Z"
CREATED_UNIX = 1735689600
DIGEST_RE = re.compile(r"^sha256[:-][0-9a-fA-F]{64}$")
GGUF_MAGIC = b"GGUF"
BLOBS_DIR = "/root/.ollama/models/blobs"

# Emulator data (not copied from a real manifest): what a pulled phi4-mini carries besides its
# weights. Real Ollama reads these from the model's template and params layers.
BASE_TEMPLATE = ("{{- if .System }}<|system|>{{ .System }}<|end|>{{ end }}"
                 "{{- range .Messages }}<|{{ .Role }}|>{{ .Content }}<|end|>{{ end }}<|assistant|>")
BASE_PARAMETERS: Dict[str, Any] = {"stop": ["<|end|>", "<|user|>", "<|assistant|>"]}
MODEL_BYTES = 2491876774  # phi4-mini Q4_K_M, ~2.5 GB


def canonical(name: str) -> str:
    """The name as Ollama lists it: ``registry.ollama.ai/library/phi4-mini`` -> ``phi4-mini:latest``."""
    name = short(name)
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"


def sha(text: str) -> str:
    """Hex sha256 of a string (the emulator's stand-in digests)."""
    return hashlib.sha256(text.encode()).hexdigest()


def go_value(value: Any) -> str:
    """Go's ``%#v`` of a JSON-decoded value: strings quoted, whole floats without ``.0``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 1e21 else repr(number)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)


def parameters_text(params: Dict[str, Any]) -> str:
    """``/api/show``'s ``parameters``: one ``%-30s %#v`` line per value (Go map order is random:
    the emulator sorts keys, clients must not rely on order)."""
    lines = []
    for key in sorted(params):
        values = params[key] if isinstance(params[key], list) else [params[key]]
        lines += ["%-30s %s" % (key, go_value(v)) for v in values]
    return "\n".join(lines)


class Layer:
    """One blob of a registry manifest."""

    def __init__(self, digest: str, size: int) -> None:
        self.digest = digest
        self.size = size


class Store:
    """Everything the emulated server knows; all access under ``lock``."""

    def __init__(self, registry: List[str], models: List[str]) -> None:
        self.lock = threading.Lock()
        self.registry: Dict[str, List[Layer]] = {}
        self.models: Dict[str, Dict[str, Any]] = {}
        self.blobs: Dict[str, Dict[str, Any]] = {}      # digest -> {"size", "head"}
        self.partial: Dict[str, int] = {}               # digest -> bytes already downloaded
        for name in registry:
            self.add_registry(name)
        for name in models:
            self.add_pulled(canonical(name))

    # ------------------------------------------------------------------ registry and pulls
    def add_registry(self, name: str, size: int = MODEL_BYTES) -> None:
        """Make ``name`` pullable: a model layer of ``size`` bytes plus small layers."""
        name = canonical(name)
        self.registry[name] = [Layer("sha256:" + sha(name + "#model"), size),
                               Layer("sha256:" + sha(name + "#template"), len(BASE_TEMPLATE)),
                               Layer("sha256:" + sha(name + "#params"), len(json.dumps(BASE_PARAMETERS))),
                               Layer("sha256:" + sha(name + "#config"), 491)]

    def add_pulled(self, name: str) -> None:
        """Record ``name`` as fully pulled (its blobs present, its manifest written)."""
        layers = self.registry.get(name)
        if layers is None:
            self.add_registry(name)
            layers = self.registry[name]
        for layer in layers:
            self.blobs[layer.digest] = {"size": layer.size, "head": GGUF_MAGIC if layer is layers[0] else b"{"}
            self.partial.pop(layer.digest, None)
        self.models[name] = {"name": name, "parent": "", "model_digest": layers[0].digest, "size": layers[0].size,
                             "system": "", "template": BASE_TEMPLATE, "parameters": dict(BASE_PARAMETERS)}

    # ------------------------------------------------------------------ create
    def create_from_model(self, name: str, base: str, body: Dict[str, Any]) -> None:
        """``/api/create`` with ``from``: base layers reused, parameters merged, system/template
        replaced only when given (``server/create.go``)."""
        src = self.models[base]
        params = dict(src["parameters"])
        params.update(body.get("parameters") or {})
        self.models[name] = {"name": name, "parent": short(base), "model_digest": src["model_digest"],
                             "size": src["size"], "system": body.get("system") or src["system"],
                             "template": body.get("template") or src["template"], "parameters": params}

    def create_from_gguf(self, name: str, filename: str, digest: str, body: Dict[str, Any]) -> None:
        """``/api/create`` with ``files``: the GGUF blob becomes the model layer."""
        self.models[name] = {"name": name, "parent": filename, "model_digest": digest,
                             "size": self.blobs[digest]["size"], "system": body.get("system") or "",
                             "template": body.get("template") or BASE_TEMPLATE,
                             "parameters": dict(body.get("parameters") or {})}

    # ------------------------------------------------------------------ answers
    @staticmethod
    def details(info: Dict[str, Any]) -> Dict[str, Any]:
        return {"parent_model": info["parent"], "format": "gguf", "family": "phi3", "families": ["phi3"],
                "parameter_size": "3.8B", "quantization_level": "Q4_K_M"}

    def manifest_digest(self, info: Dict[str, Any]) -> str:
        return sha(json.dumps([info["model_digest"], info["system"], info["template"], info["parameters"]],
                              sort_keys=True))

    def tag_entry(self, name: str) -> Dict[str, Any]:
        info = self.models[name]
        return {"name": name, "model": name, "modified_at": CREATED_AT, "size": info["size"],
                "digest": self.manifest_digest(info), "details": self.details(info)}

    def show(self, name: str) -> Dict[str, Any]:
        info = self.models[name]
        blob = "%s/%s" % (BLOBS_DIR, info["model_digest"].replace(":", "-"))
        modelfile = ['# Modelfile generated by "ollama show"',
                     "# To build a new Modelfile based on this, replace FROM with:", "# FROM %s" % short(name), "",
                     "FROM " + blob, 'TEMPLATE """%s"""' % info["template"]]
        if info["system"]:
            modelfile.append('SYSTEM """%s"""' % info["system"])
        for line in parameters_text(info["parameters"]).splitlines():
            modelfile.append("PARAMETER " + " ".join(line.split(None, 1)))
        return {"license": "", "modelfile": "\n".join(modelfile) + "\n",
                "parameters": parameters_text(info["parameters"]), "template": info["template"],
                "system": info["system"], "details": self.details(info),
                "model_info": {"general.architecture": "phi3", "general.parameter_count": 3836021856,
                               "phi3.context_length": 131072},
                "capabilities": ["completion", "tools"], "modified_at": CREATED_AT}


def short(name: str) -> str:
    """Ollama's ``DisplayShortest`` for the names the emulator handles (registry prefix dropped)."""
    for prefix in ("registry.ollama.ai/library/", "library/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name
