"""The reshapes a student's layout adds to the Program's nodes: a vector as a row or a column, an
array flattened. The student's form builds them; its printer prints them."""

from __future__ import annotations

from dataclasses import dataclass

from ...derive import program as P


@dataclass(frozen=True)
class AsRow:
    """A vector as a (1, h) row; a sum over samples keeping its dimensions."""

    arg: P.Node


@dataclass(frozen=True)
class AsColumn:
    """A vector as an (h, 1) column."""

    arg: P.Node


@dataclass(frozen=True)
class Ravel:
    """An array flattened to a vector."""

    arg: P.Node
