"""The batch sizes check-code probes at, and the largest network it checks: known from the spec
alone, before SymPy is imported or anything is derived."""

from __future__ import annotations

import math

from ...errors import UserError
from ...spec import NetworkSpec
from .runner import MAX_ENTRIES

GENERIC_BATCHES = (3, 5, 7)


def check_size(spec: NetworkSpec) -> None:
    """Refuse, before deriving, a network whose arrays the sandbox would not transfer: every
    parameter, and every probe's batch of every layer, has at most runner.MAX_ENTRIES entries."""
    arrays = [(f"{n}", math.prod(spec.param_shape(n))) for n in spec.param_names]
    n = max(batch_sizes(spec.layers))
    arrays += [
        (f"a batch of {n} samples of layer {k}", n * w)
        for k, w in enumerate(spec.layers)
    ]
    name, size = max(arrays, key=lambda a: a[1])
    if size > MAX_ENTRIES:
        raise UserError(
            f"check-code compares arrays of at most {MAX_ENTRIES:,} entries, and {name} of "
            f"{'-'.join(map(str, spec.layers))} has {size:,}; check the same code on a "
            "narrower network (--layers): its rules do not depend on the width"
        )


def batch_sizes(layers: tuple[int, ...]) -> list[int]:
    """Sizes off every width (3, 5, 7 shifted as needed), plus each hidden width above 1."""
    sizes: list[int] = []
    for n in GENERIC_BATCHES:
        while n in layers or n in sizes:
            n += 1
        sizes.append(n)
    widths = sorted({w for w in layers[1:] if w > 1})
    return sorted(set(sizes) | set(widths))
