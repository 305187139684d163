"""The garbage collector's settings for a serving process, applied once start-up is done.

A ``/play`` round in flight holds about 80 container objects (coroutines, futures, contexts, spans,
dicts): 32 rounds in flight are some 2,500, so with CPython's default threshold (700 new objects)
the youngest generation was collected every few requests, walking the same in-flight objects again
and promoting them into older generations, whose collections walk everything start-up built (about
70,000 objects). In the benchmark that was some 80 us of every request of the full game (and 5 us of
the bare handler's). :func:`settle_heap` collects once, freezes what start-up built (``gc.freeze``:
never walked again) and raises the youngest generation's threshold, so collections run when garbage
accumulates, not because requests are in flight. Cyclic garbage waits for at most
``GC_THRESHOLD0`` new objects (a few MB).
"""

from __future__ import annotations

import gc

GC_THRESHOLD0 = 10_000


def settle_heap() -> None:
    """After start-up, before serving: one full collection, freeze the survivors, raise threshold 0."""
    gc.collect()
    gc.freeze()
    _, threshold1, threshold2 = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD0, threshold1, threshold2)
