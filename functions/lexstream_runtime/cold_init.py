"""A function's cold init without the cycle collector, and what it built frozen after it.

A handler module imports this first, before anything that imports botocore, and calls
`done()` as the last line of its init:

    from lexstream_runtime import cold_init  # first: pauses the cycle collector

    # isort: split
    from lexstream_runtime import aws
    ...
    cold_init.done()

Importing the module pauses CPython's cycle collector. A cold init builds ~75,000
objects (botocore's modules, its models, the clients) that live as long as the execution
environment; collecting as they are made, the collector would traverse them again and
again, for nothing: they are all still reachable. `done()` moves everything the init
built into the collector's permanent generation (`gc.freeze()`), which collections never
traverse, and starts the collector again. So the init skips those collections, and no
later collection pays them instead (merely resuming would make the next one, in the
first invocation, traverse the whole heap).

The price is the cyclic garbage the init itself left, which is kept instead of freed: a
few hundred objects, counted by the tests. Objects frozen here are still freed by
reference counting when they are released.
"""

from __future__ import annotations

import gc

gc.disable()


def done() -> None:
    """End the cold init: freeze what it built and start the cycle collector again."""
    gc.freeze()
    gc.enable()
