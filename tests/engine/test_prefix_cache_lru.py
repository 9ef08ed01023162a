"""The prefix cache's bookkeeping: longest proper prefix, exclusive take, LRU budget."""

from __future__ import annotations

import numpy as np
from slm_engine.prefix_cache import PrefixCache


class FakeRequest:
    """Stands in for an og.Engine request: records whether it was closed."""

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_prefix_cache_takes_the_longest_proper_prefix_and_evicts_lru() -> None:
    cache = PrefixCache(max_sessions=2)
    short, long_, other = FakeRequest(), FakeRequest(), FakeRequest()
    cache.put(np.array([1, 2], dtype=np.int32), short, batch=1)
    cache.put(np.array([1, 2, 3], dtype=np.int32), long_, batch=1)
    assert cache.take(np.array([1, 2, 3], dtype=np.int32)).request is short  # proper prefix only
    cache.put(np.array([1, 2], dtype=np.int32), short, batch=1)
    held = cache.take(np.array([1, 2, 3, 4], dtype=np.int32))
    assert held is not None and held.request is long_ and len(cache) == 1  # taken out: exclusive
    assert cache.take(np.array([9, 9, 9], dtype=np.int32)) is None
    cache.put(np.array([1, 2, 3, 4, 5], dtype=np.int32), long_, batch=2)
    cache.put(np.array([7, 8], dtype=np.int32), other, batch=2)  # over budget: short goes
    assert short.closed and not long_.closed and len(cache) == 2
    cache.keep_only_batch(3)
    assert long_.closed and other.closed and len(cache) == 0
