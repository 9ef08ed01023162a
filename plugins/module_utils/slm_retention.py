# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which releases and model versions a host keeps (pure function, stdlib only)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def retention(releases, models, pinned, keep_releases, keep_models):
    """Decide what to remove.

    ``releases``: list of dicts ``{name, mtime, model}`` (``model`` = name of the model version the
    release mounts, or None). ``models``: list of dicts ``{name, mtime}``. ``pinned``: release names
    that are always kept (the serving and the previous release). Keeps the pinned releases and then
    the newest others up to ``keep_releases``; keeps every model version a kept release uses, then
    the newest others up to ``keep_models``.

    Returns ``{"drop_releases": [...], "drop_models": [...]}`` (names, newest first).
    """
    names = [r["name"] for r in sorted(releases, key=lambda r: r["mtime"], reverse=True)]
    pinned = [p for p in pinned if p in names]
    kept = list(pinned)
    for name in names:
        if len(kept) >= keep_releases:
            break
        if name not in kept:
            kept.append(name)
    in_use = set(r["model"] for r in releases if r["name"] in kept and r.get("model"))
    model_names = [m["name"] for m in sorted(models, key=lambda m: m["mtime"], reverse=True)]
    kept_models = [m for m in model_names if m in in_use]
    for name in model_names:
        if len(kept_models) >= max(keep_models, len(in_use)):
            break
        if name not in kept_models:
            kept_models.append(name)
    return {
        "drop_releases": [n for n in names if n not in kept],
        "drop_models": [m for m in model_names if m not in kept_models],
    }
