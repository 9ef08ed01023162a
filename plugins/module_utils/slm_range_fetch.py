# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Resumable HTTP download of one file with sha256 verification and an atomic rename (stdlib only).

A file is written to ``<final>.part``; an interrupted transfer leaves that partial file behind, and
the next attempt (in the same run or a later one) asks the server for the rest with a ``Range``
request. The finished file is hashed; only a file whose size and sha256 match the manifest is
renamed to its final name. A partial file whose content turns out wrong is discarded and fetched
again from byte 0.
"""

from __future__ import annotations

import errno
import os
from http.client import HTTPException, HTTPResponse
from typing import Any, Dict, List, Optional, Tuple
from urllib.error import HTTPError, URLError
from urllib.parse import quote
from urllib.request import ProxyHandler, Request, build_opener

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_files import CHUNK, sha256_of


class FetchError(Exception):
    """A file could not be fetched and verified; the message says why."""


def file_url(base_url: str, rel_path: str) -> str:
    """The URL of ``rel_path`` below ``base_url`` (each path component percent-encoded)."""
    return base_url.rstrip("/") + "/" + "/".join(quote(part) for part in rel_path.split("/"))


def matches(path: str, size: Optional[int], sha256: str) -> bool:
    """True when ``path`` is a regular file of ``size`` bytes (when given) whose sha256 is ``sha256``."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    if not os.path.isfile(path) or os.path.islink(path):
        return False
    if size is not None and info.st_size != size:
        return False
    return sha256_of(path) == sha256.lower()


def part_size(part: str) -> int:
    """Size of the partial file (0 when there is none)."""
    try:
        return os.lstat(part).st_size
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return 0
        raise


class Transfer:
    """Fetches files from one base URL; counts the bytes received over the network."""

    def __init__(self, base_url: str, timeout: int = 60, attempts: int = 5, use_proxy: bool = False) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.attempts = attempts
        # The cache is on the site network: a proxy configured for the internet must not be used.
        self.opener = build_opener() if use_proxy else build_opener(ProxyHandler({}))
        self.bytes_received = 0  # bytes of response bodies, over every attempt

    def _get(self, url: str, offset: int) -> Tuple[HTTPResponse, bool]:
        """The response for the body from ``offset`` onwards, and whether the server honoured the range (206)."""
        headers = {"Range": "bytes=%d-" % offset} if offset else {}
        response = self.opener.open(Request(url, headers=headers), timeout=self.timeout)
        status = response.getcode()
        if status not in (200, 206):
            response.close()
            raise FetchError("%s answered HTTP %s" % (url, status))
        return response, offset > 0 and status == 206

    def _download(self, url: str, part: str, size: Optional[int]) -> List[int]:
        """Bring ``part`` to full length, resuming with Range; returns the offsets a Range request resumed from."""
        last_error: Optional[BaseException] = None
        resumed: List[int] = []
        for _attempt in range(self.attempts):
            offset = part_size(part)
            if size is not None and offset > size:
                os.unlink(part)
                offset = 0
            if size is not None and offset == size:
                return resumed
            try:
                response, ranged = self._get(url, offset)
            except HTTPError as exc:
                if exc.code == 416 and offset:
                    # The server has nothing past our offset: the partial file is complete, or wrong.
                    return resumed
                raise FetchError("%s answered HTTP %s %s" % (url, exc.code, exc.reason))
            except (URLError, HTTPException, OSError) as exc:
                last_error = exc
                continue
            if ranged:
                resumed.append(offset)
            try:
                with open(part, "ab" if ranged else "wb") as handle:
                    for block in iter(lambda: response.read(CHUNK), b""):
                        handle.write(block)
                        self.bytes_received += len(block)
            except (HTTPException, OSError) as exc:  # connection cut mid-body: the next attempt resumes
                last_error = exc
                continue
            finally:
                response.close()
            if size is None:
                return resumed
        if size is not None and part_size(part) == size:
            return resumed
        raise FetchError("%s: transfer incomplete after %d attempts (%s bytes of %s; last error: %s); the partial "
                         "file is kept and the next run resumes it" % (url, self.attempts, part_size(part), size,
                                                                       last_error))

    def fetch(self, rel_path: str, dest_dir: str, sha256: str, size: Optional[int]) -> Dict[str, Any]:
        """Fetch one manifest entry into ``dest_dir``; returns a dict describing what happened."""
        final = os.path.join(dest_dir, rel_path)
        part = final + ".part"
        url = file_url(self.base_url, rel_path)
        outcome: Dict[str, Any] = {"path": rel_path, "fetched": False, "resumed_from": [], "refused": 0}
        if matches(final, size, sha256):
            return outcome
        if os.path.lexists(final):
            os.unlink(final)  # wrong content (or a symlink): never trusted, fetched again
            outcome["refused"] += 1
        parent = os.path.dirname(final)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
        for _round in range(2):
            outcome["resumed_from"] += self._download(url, part, size)
            if matches(part, size, sha256):
                os.rename(part, final)
                outcome["fetched"] = True
                return outcome
            # Complete but wrong (a corrupted partial file or a bad copy on the server): start over once.
            outcome["refused"] += 1
            os.unlink(part)
        raise FetchError("%s: the server's file does not match the manifest's sha256 %s (size %s); it was refused "
                         "twice and deleted. Re-send the artifact to the cache." % (url, sha256, size))
