"""The documented size limits of a spec, each stated once; every refusal prints from here.

A spec above a limit is refused (one line, exit code 2) before anything is allocated or
derived. The limits are far above the networks people derive by hand (784-1024-10,
3-8-8-2, ten layers of 64) and far below what exhausts a machine: proving a trainer holds
a few float64 copies of every parameter (about 60 bytes each), and a document (LaTeX, PDF,
notebook) works its example symbolically at full size (about 1 KB per parameter).
"""

from __future__ import annotations

import math
import reprlib

MAX_WIDTH = 1_000_000  # units in any one layer, the input included
# weight layers (hidden layers + the output layer); sizes given: one more
MAX_DEPTH = 100
# weights + biases: a trainer's proof peaks near 0.7 GB here
MAX_PARAMETERS = 10_000_000
MAX_DOCUMENT_PARAMETERS = 1_000_000  # latex, pdf, notebook: about 1 GB, a few minutes
MAX_EPOCHS = 1_000_000  # epochs of the generated trainer's __main__
MAX_SEED = 2**32 - 1  # seeds run from 0 to this (what every NumPy seeding API accepts)
# a name or a title (a default name at the limits stays below it)
MAX_TEXT_CHARS = 1_000
MAX_NUMBER_CHARS = 40  # a number typed on the command line (repr of a float needs 24)
# a TOML spec file: a network, its weights and a small example data set
MAX_SPEC_MIB = 4
MAX_SPEC_BYTES = MAX_SPEC_MIB * 2**20
MAX_NESTING = 4  # TOML levels: the file, a table ([data], [params]), a matrix, its rows

DOCUMENT_ARTEFACTS = "latex, pdf and notebook"


class _Short(reprlib.Repr):
    """reprlib, but an integer too long to print is described by its number of digits."""

    def repr_int(self, x: int, level: int) -> str:
        """Python refuses to print ints over ~4300 digits; describe those instead."""
        if x.bit_length() > 128:
            return f"<a {_digits(abs(x))}-digit number>"
        return super().repr_int(x, level)


def _digits(x: int) -> int:
    """Decimal digits of a positive int, without printing it (log10 is a float: correct it)."""
    d = int(math.log10(x)) + 1
    if x < 10 ** (d - 1):
        return d - 1
    return d + 1 if x >= 10**d else d


_SHORT = _Short()
_SHORT.maxstring = 40
_SHORT.maxlong = 40
_SHORT.maxother = 40
_SHORT.maxlist = _SHORT.maxtuple = 8


def shown(value: object) -> str:
    """A user's value as a short repr that always prints, for a one-line message."""
    return _SHORT.repr(value)
