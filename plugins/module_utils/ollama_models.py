# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Desired state of an Ollama host's models: validation and comparison (stdlib only, pure).

What Ollama does that this file mirrors (ollama/ollama ``server/create.go``, ``server/routes.go``):

* a model created ``from`` another keeps the base's system prompt and template unless new ones
  are given, and its parameters are the base's with the given ones on top (``setParameters``);
* ``/api/show`` prints ``parameters`` as one ``"%-30s %#v"`` line per value (strings quoted, a
  list one line per element, map order random), so a comparison parses that text back;
* ``/api/show``'s ``details.parent_model`` is the name a model was created ``from``, and its
  ``modelfile`` names the weights blob (``FROM .../blobs/sha256-<hex>``).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.ollama_api import canonical

PART = r"[A-Za-z0-9][A-Za-z0-9._-]*"
NAME_RE = re.compile(r"^(?:%s/){0,2}%s(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,79})?$" % (PART, PART))
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
BLOB_RE = re.compile(r"sha256[-:]([0-9a-f]{64})")
#: Ollama's model parameters and their types (api/types.go ``Options`` and ``Runner``).
PARAMETER_TYPES = {
    "num_ctx": int, "num_batch": int, "num_gpu": int, "main_gpu": int, "use_mmap": bool, "num_thread": int,
    "num_keep": int, "seed": int, "num_predict": int, "top_k": int, "top_p": float, "min_p": float,
    "typical_p": float, "repeat_last_n": int, "temperature": float, "repeat_penalty": float,
    "presence_penalty": float, "frequency_penalty": float, "stop": list,
}
#: Oldest Ollama whose /api/create takes from/files/system/parameters/template (not a modelfile).
MIN_VERSION = (0, 5, 5)


class SpecError(ValueError):
    """Bad input, found before anything changes on the host."""


def version_tuple(text: str) -> Tuple[int, ...]:
    """``0.6.8`` -> ``(0, 6, 8)``; ``0.5.13-rc1`` -> ``(0, 5, 13)``; unknown parts become 0."""
    out = []
    for part in re.split(r"[.+-]", text.strip().lstrip("v"))[:3]:
        out.append(int(part) if part.isdigit() else 0)
    return tuple(out + [0] * (3 - len(out)))


def check_pinned(name: str, option: str = "name") -> str:
    """Refuse a name without a tag or with ``latest``: what gets pulled would change under you."""
    if not isinstance(name, str) or not NAME_RE.match(name.strip()):
        raise SpecError("%s=%r is not a valid Ollama model name ([namespace/]model:tag, letters, digits, '.', '_', "
                        "'-')" % (option, name))
    name = name.strip()
    tag = name.rsplit("/", 1)[-1].partition(":")[2]
    if not tag:
        raise SpecError("%s=%r has no tag: Ollama would pull ':latest', which changes whenever the registry moves it. "
                        "Pin a tag, e.g. 'phi4-mini:3.8b'." % (option, name))
    if tag.lower() == "latest":
        raise SpecError("%s=%r uses the floating tag 'latest': pin a tag that names a version, e.g. "
                        "'phi4-mini:3.8b'." % (option, name))
    return name


def coerce_parameters(params: Any, where: str) -> Dict[str, Any]:
    """Declared parameters with Ollama's types (``"0.3"`` -> 0.3, ``stop: "x"`` -> ``["x"]``)."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise SpecError("%s.parameters must be a mapping (e.g. {temperature: 0.3}), got %r" % (where, params))
    out: Dict[str, Any] = {}
    for key, value in params.items():
        kind = PARAMETER_TYPES.get(key)
        if kind is None:
            raise SpecError("%s.parameters has unknown key %r; Ollama knows: %s"
                            % (where, key, ", ".join(sorted(PARAMETER_TYPES))))
        try:
            if kind is list:
                values = value if isinstance(value, list) else [value]
                if not values or not all(isinstance(v, str) and v for v in values):
                    raise ValueError()
                out[key] = [str(v) for v in values]
            elif kind is bool:
                if isinstance(value, bool):
                    out[key] = value
                elif str(value).lower() in ("true", "false"):
                    out[key] = str(value).lower() == "true"
                else:
                    raise ValueError()
            elif kind is int:
                number = float(value)
                if isinstance(value, bool) or not number.is_integer():
                    raise ValueError()
                out[key] = int(number)
            else:
                if isinstance(value, bool):
                    raise ValueError()
                out[key] = float(value)
        except (TypeError, ValueError):
            want = {list: "a string or a list of strings", bool: "true or false", int: "an integer",
                    float: "a number"}[kind]
            raise SpecError("%s.parameters.%s=%r: must be %s" % (where, key, value, want))
    return out


def normalise_variants(variants: Any, name: str) -> List[Dict[str, Any]]:
    """Check the ``variants`` option; each gets a canonical ``name``, a ``from`` and typed parameters."""
    out: List[Dict[str, Any]] = []
    seen = {canonical(name)}
    for i, raw in enumerate(variants or []):
        where = "variants[%d]" % i
        if not isinstance(raw, dict) or not raw.get("name"):
            raise SpecError("%s needs at least a name, got %r" % (where, raw))
        vname = str(raw["name"]).strip()
        if not NAME_RE.match(vname):
            raise SpecError("%s.name=%r is not a valid Ollama model name" % (where, vname))
        if canonical(vname) in seen:
            raise SpecError("%s.name=%r is declared twice (or is the base model itself)" % (where, vname))
        seen.add(canonical(vname))
        state = raw.get("state") or "present"
        if state not in ("present", "absent"):
            raise SpecError("%s.state=%r: must be present or absent" % (where, state))
        base = str(raw.get("from") or name).strip()
        if not NAME_RE.match(base):
            raise SpecError("%s.from=%r is not a valid Ollama model name" % (where, base))
        for text in ("system", "template"):
            if raw.get(text) is not None and not isinstance(raw[text], str):
                raise SpecError("%s.%s must be a string, got %r" % (where, text, raw[text]))
        template = raw.get("template") or ""
        if template.count("{{") != template.count("}}"):
            raise SpecError("%s.template has unbalanced '{{' / '}}': Ollama would refuse it" % where)
        out.append({"name": canonical(vname), "declared_name": vname, "from": canonical(base), "state": state,
                    "system": raw.get("system") or "", "template": template,
                    "parameters": coerce_parameters(raw.get("parameters"), where + "(" + vname + ")")})
    return out


def check_gguf(spec: Any) -> Optional[Dict[str, str]]:
    """``from_gguf``: an existing file and its sha256 (64 lowercase hex)."""
    if not spec:
        return None
    if not isinstance(spec, dict) or not spec.get("path") or not spec.get("sha256"):
        raise SpecError("from_gguf needs path and sha256 (the artifact manifest's digest), got %r" % (spec,))
    digest = str(spec["sha256"]).lower().replace("sha256:", "")
    if not SHA256_RE.match(digest):
        raise SpecError("from_gguf.sha256=%r is not a sha256 (64 hex digits)" % spec["sha256"])
    path = str(spec["path"])
    if not os.path.isfile(path):
        raise SpecError("from_gguf.path=%r does not exist on the host (stage it with the artifact path first)" % path)
    return {"path": path, "sha256": digest}


def check_digest(digest: Optional[str], gguf: Optional[Dict[str, str]]) -> Optional[str]:
    """``digest``: 12 to 64 lowercase hex digits (``sha256:`` allowed), not together with ``from_gguf``."""
    if not digest:
        return None
    value = str(digest).strip().lower().replace("sha256:", "")
    if not re.match(r"^[0-9a-f]{12,64}$", value):
        raise SpecError("digest=%r: must be the manifest digest, 12 to 64 hex digits (ollama list's ID is the first "
                        "12)" % digest)
    if gguf:
        raise SpecError("digest is for pulled models; with from_gguf the pin is from_gguf.sha256")
    return value


# ---------------------------------------------------------------------- comparison
def _text(value: Optional[str]) -> str:
    """Whitespace that YAML block scalars add or drop does not count as a change."""
    return "\n".join(line.rstrip() for line in (value or "").strip().splitlines())


def _go_scalar(text: str) -> Any:
    text = text.strip()
    if text.startswith('"'):
        try:
            return json.loads(text)
        except ValueError:
            return text.strip('"')
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text)
    except ValueError:
        return text


def parse_show_parameters(text: Optional[str]) -> Dict[str, Any]:
    """``/api/show``'s ``parameters`` text back into a mapping (repeated keys become lists)."""
    out: Dict[str, List[Any]] = {}
    for line in (text or "").splitlines():
        key, _sep, value = line.strip().partition(" ")
        if key:
            out.setdefault(key, []).append(_go_scalar(value))
    return {k: (v if k == "stop" or len(v) > 1 else v[0]) for k, v in out.items()}


def _norm_params(params: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        norm = [round(float(v), 6) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in values]
        out[key] = sorted(norm, key=repr)
    return out


def effective(base: Dict[str, Any], variant: Dict[str, Any]) -> Dict[str, Any]:
    """What ``/api/show`` will say after ``/api/create`` of ``variant`` from ``base`` (create.go)."""
    params = dict(base.get("parameters") or {})
    params.update(variant["parameters"])
    return {"from": variant["from"], "system": variant["system"] or base.get("system") or "",
            "template": variant["template"] or base.get("template") or "", "parameters": params}


def shown(show: Dict[str, Any]) -> Dict[str, Any]:
    """The comparable part of an ``/api/show`` answer."""
    parent = (show.get("details") or {}).get("parent_model") or ""
    return {"from": canonical(parent) if parent else "", "system": show.get("system") or "",
            "template": show.get("template") or "", "parameters": parse_show_parameters(show.get("parameters"))}


def differences(current: Dict[str, Any], desired: Dict[str, Any]) -> List[str]:
    """Fields of a variant that differ (empty: nothing to do)."""
    diff = []
    if current["from"] and current["from"] != desired["from"]:
        diff.append("from")
    for key in ("system", "template"):
        if _text(current[key]) != _text(desired[key]):
            diff.append(key)
    if _norm_params(current["parameters"]) != _norm_params(desired["parameters"]):
        diff.append("parameters")
    return diff


def blob_digest(show: Dict[str, Any]) -> Optional[str]:
    """The weights blob a model uses, from the ``FROM`` line of ``/api/show``'s modelfile."""
    for line in (show.get("modelfile") or "").splitlines():
        if line.startswith("FROM "):
            match = BLOB_RE.search(line)
            if match:
                return match.group(1)
    return None


def create_body(variant: Dict[str, Any]) -> Dict[str, Any]:
    """The ``/api/create`` body for a variant (only the fields it sets)."""
    body: Dict[str, Any] = {"model": variant["name"], "from": variant["from"]}
    for key in ("system", "template"):
        if variant[key]:
            body[key] = variant[key]
    if variant["parameters"]:
        body["parameters"] = variant["parameters"]
    return body
