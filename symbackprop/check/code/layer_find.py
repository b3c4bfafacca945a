"""Which course's layer API a file implements (CS231n's affine_*, deeplearning.ai's linear_*),
read from its syntax alone, and where a child's frame is in the student's file.

Kept apart from layer_check, which checks the layers against the derivation (and so loads
SymPy): every check asks these questions before its sandbox child has booted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import UserError
from . import runner
from .profiles import LAYER_APIS, LayerApi, LayerPair, Profile
from .student_file import StudentFile


def find_api(student: StudentFile, declared: Profile | None = None) -> LayerApi | None:
    """The layer API the file implements: the profile's (UserError when the file has none of
    its functions), else the one whose forward and backward pairs the file defines."""
    if declared is not None and declared.layers:
        api = LAYER_APIS[declared.layers]
        if not present(student, api):
            wanted = ", ".join(p.backward for p in api.pairs)
            raise UserError(
                f"--profile {declared.name} does not match {student.path.name}: its "
                f"layers = {declared.layers!r} name {wanted}, none of which it defines"
            )
        return api
    for api in LAYER_APIS.values():
        if present(student, api):
            return api
    return None


def present(student: StudentFile, api: LayerApi) -> list[LayerPair]:
    """The API's layer pairs the file defines both functions of."""
    return [
        p
        for p in api.pairs
        if p.forward in student.functions and p.backward in student.functions
    ]


def student_where(
    student: StudentFile, quote: bool = True
) -> Callable[[dict[str, Any] | None], str]:
    """A child's frame as the student's file and line, with the line's code unless `quote` is
    False (a document names the line; its reader has the file)."""
    from ..inert import inert

    def where(frame: dict[str, Any] | None) -> str:
        if not frame or not runner.is_child_student_file(frame["file"]):
            return ""
        chunk = int(frame["file"][len(runner.STUDENT_FILE_PREFIX) : -1])
        if not 0 <= chunk < len(student.chunks):
            return ""
        code = inert(student.code_at(chunk, frame["line"]), 120)
        place = student.where(chunk, frame["line"])
        return place + (f" `{code}`" if code and quote else "")

    return where
