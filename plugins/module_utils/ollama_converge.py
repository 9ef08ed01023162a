# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bring an Ollama host's models to the declared state (the logic behind ``ollama_model``).

Reads first (``/api/version``, ``/api/tags``, ``/api/show``), then writes only what differs:
``/api/pull`` only when ``/api/tags`` lacks the pinned tag, blob upload + ``/api/create`` with
``files`` only when the model is missing or built from another GGUF, ``/api/create`` of a variant
only when ``/api/show`` differs from what it would become, ``/api/delete`` only for variants set
``absent``, or undeclared ones when pruning is asked for. In check mode no write is made.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, List, Optional

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.ollama_api import (
    OllamaAPI,
    OllamaError,
    PullTracker,
    canonical,
)
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.ollama_models import (
    MIN_VERSION,
    blob_digest,
    create_body,
    differences,
    effective,
    shown,
    version_tuple,
)

CHUNK = 4 * 1024 * 1024


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class Converger:
    """One run of the module. ``spec`` holds the checked options (see ``ollama_model``)."""

    def __init__(self, api: OllamaAPI, spec: Dict[str, Any], check_mode: bool = False) -> None:
        self.api = api
        self.spec = spec
        self.check = check_mode
        self.actions: List[Dict[str, str]] = []
        self.diff: Dict[str, Dict[str, Any]] = {"before": {}, "after": {}}
        self.pull_progress: Optional[Dict[str, Any]] = None
        self.tags: Dict[str, Dict[str, Any]] = {}
        self.known: Dict[str, Dict[str, Any]] = {}  # model -> comparable state (shown or about to be)
        self.writes_done = 0  # completed writes (a failed run may still have changed something)

    def _act(self, action: str, model: str, reason: str) -> None:
        self.actions.append({"action": action, "model": model, "reason": reason})

    def run(self) -> Dict[str, Any]:
        version = self.api.version()
        if version_tuple(version) < MIN_VERSION:
            raise OllamaError("Ollama %s at %s is too old: /api/create with from/files needs >= %s (phi4-mini needs "
                              ">= 0.5.13). Upgrade the Ollama image." % (version, self.api.url,
                                                                         ".".join(map(str, MIN_VERSION))))
        self.tags = self.api.tags()
        name = canonical(self.spec["name"])
        if self.spec["state"] == "absent":
            self._remove_all(name)
        else:
            self._ensure_base(name)
            for variant in self.spec["variants"]:
                if variant["state"] == "present":
                    self._ensure_variant(variant)
                else:
                    self._delete(variant["name"], "variant declared absent")
            if self.spec["prune_variants"]:
                self._prune(name)
        return {"changed": bool(self.actions), "actions": self.actions, "pull_progress": self.pull_progress,
                "ollama_version": version, "diff": self.diff,
                "models": sorted(self._models_after())}

    def _models_after(self) -> List[str]:
        names = set(self.tags)
        for act in self.actions:
            if act["action"] == "delete":
                names.discard(act["model"])
            else:
                names.add(act["model"])
        return list(names)

    # ------------------------------------------------------------------ the base model
    def _ensure_base(self, name: str) -> None:
        gguf = self.spec.get("from_gguf")
        if name in self.tags:
            show = self.api.show(name) or {}
            if gguf and blob_digest(show) != gguf["sha256"]:
                self._import(name, gguf, "built from blob %s, declared GGUF is %s" % (
                    (blob_digest(show) or "unknown")[:12], gguf["sha256"][:12]))
            else:
                self._check_digest(name, self.tags[name])
                self.known[name] = shown(show)
            return
        if gguf:
            self._import(name, gguf, "not in /api/tags")
            return
        self._act("pull", name, "not in /api/tags")
        if self.check:
            return
        tracker = PullTracker(name, self.spec.get("progress_file"))
        try:
            self.pull_progress = self.api.pull(name, self.spec["pull_timeout"], tracker)
        except OllamaError as exc:
            self.pull_progress = exc.result
            raise
        self.writes_done += 1
        if self.spec.get("digest"):
            self._check_digest(name, self.api.tags().get(name) or {})
        self.known[name] = shown(self.api.show(name) or {})

    def _check_digest(self, name: str, entry: Dict[str, Any]) -> None:
        """With ``digest`` set: the manifest digest ``/api/tags`` lists (``ollama list``'s ID) must match."""
        want = self.spec.get("digest")
        have = str(entry.get("digest") or "").lower().replace("sha256:", "")
        if want and not have.startswith(want):
            raise OllamaError("%s on the host has manifest digest %s, digest=%s was declared: the registry moved the "
                              "tag, or another model carries this name. Check the tag's digest in the registry, then "
                              "update digest, or delete the model (state=absent) and run again."
                              % (name, have[:12] or "unknown", want))

    def _import(self, name: str, gguf: Dict[str, str], reason: str) -> None:
        """GGUF file -> blob (uploaded only if Ollama lacks it) -> ``/api/create`` with ``files``."""
        digest = "sha256:" + gguf["sha256"]
        self._act("import", name, "%s; from %s" % (reason, gguf["path"]))
        if self.check:
            return
        if not self.api.blob_exists(digest):
            actual = file_sha256(gguf["path"])
            if actual != gguf["sha256"]:
                raise OllamaError("from_gguf.path=%s has sha256 %s, expected %s: the staged file is damaged or not "
                                  "the declared artifact; stage it again. Nothing was changed in Ollama."
                                  % (gguf["path"], actual, gguf["sha256"]))
            self.api.push_blob(gguf["path"], digest, self.spec["pull_timeout"])
        filename = os.path.basename(gguf["path"])
        self.api.create({"model": name, "files": {filename: digest}}, self.spec["pull_timeout"])
        self.writes_done += 1
        self.known[name] = shown(self.api.show(name) or {})

    # ------------------------------------------------------------------ variants
    def _base_state(self, variant: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        base = variant["from"]
        if base in self.known:
            return self.known[base]
        if base in self.tags:
            self.known[base] = shown(self.api.show(base) or {})
            return self.known[base]
        if any(a["model"] == base and a["action"] != "delete" for a in self.actions):
            return None  # created in this run, but only planned (check mode)
        raise OllamaError("variant %s: its base %r is not on the host and is not declared here (name or an earlier "
                          "variant). Nothing was changed for it." % (variant["declared_name"], base))

    def _ensure_variant(self, variant: Dict[str, Any]) -> None:
        name = variant["name"]
        base = self._base_state(variant)
        desired = effective(base or {}, variant)
        current = shown(self.api.show(name) or {}) if name in self.tags else None
        if current is not None and base is not None:
            changed = differences(current, desired)
            if not changed:
                self.known[name] = current
                return
            reason = "/api/show differs in " + ", ".join(changed)
        else:
            reason = "not in /api/tags" if current is None else "its base is created in this run"
        self._record_diff(name, current, desired)
        self._act("create" if current is None else "update", name, reason)
        self.known[name] = desired
        if not self.check:
            self.api.create(create_body(variant), self.spec["timeout"])
            self.writes_done += 1

    def _record_diff(self, name: str, current: Optional[Dict[str, Any]], desired: Dict[str, Any]) -> None:
        self.diff["before"][name] = _diffable(current) if current else "absent"
        self.diff["after"][name] = _diffable(desired) if desired else "absent"

    # ------------------------------------------------------------------ removal
    def _delete(self, name: str, reason: str) -> None:
        if name not in self.tags:
            return
        self._act("delete", name, reason)
        self.diff["before"][name] = "present"
        self.diff["after"][name] = "absent"
        if not self.check:
            self.api.delete(name)
            self.writes_done += 1

    def _prune(self, name: str) -> None:
        declared = {v["name"] for v in self.spec["variants"]}
        parents = {name} | declared
        for model in sorted(self.tags):
            parent = (self.tags[model].get("details") or {}).get("parent_model") or ""
            if model not in declared and model != name and parent and canonical(parent) in parents:
                self._delete(model, "created from %s but not declared (prune_variants)" % canonical(parent))

    def _remove_all(self, name: str) -> None:
        for variant in reversed(self.spec["variants"]):
            self._delete(variant["name"], "state=absent")
        if self.spec["prune_variants"]:
            self._prune(name)
        self._delete(name, "state=absent")


def _diffable(state: Dict[str, Any]) -> Dict[str, Any]:
    return {"from": state["from"], "system": state["system"], "template": state["template"],
            "parameters": {k: state["parameters"][k] for k in sorted(state["parameters"])}}
