"""Which of a file's functions (or class methods) plays each role: the one named on the
command line, the profile's, else the names the courses give it (profiles.FUNCTION_NAMES)."""

from __future__ import annotations

import ast

from ...errors import UserError
from . import profiles
from .student_file import FunctionInfo, StudentFile


def find_function(
    student: StudentFile,
    name: str,
    role: str,
    declared: profiles.Profile | None = None,
) -> FunctionInfo:
    """The function (or Class.method) of a role: the one named, a profile's, else the
    names courses give it; UserError naming what the file defines."""
    info = student.functions.get(name)
    if info is not None:
        return info
    if declared is not None:  # the profile's name, as a function or a class's method
        for key in student.functions.methods():
            if key.endswith(f".{name}"):
                return student.functions[key]
        defined = ", ".join([*sorted(student.functions), *student.functions.methods()])
        raise UserError(
            f"--profile {declared.name} does not match {student.path.name}: it has no "
            f"{role} function or method {name!r} (defined: {defined or 'none'})"
        )
    if name == role:  # not named: the names courses give it, or a class's methods
        wanted = (*profiles.conventional_names(role), *profiles.LOSS_AND_GRADS_NAMES)
        for other in wanted:
            if other in student.functions:
                return student.functions[other]
        parts = components(student)
        # a class the others are built from is a layer: the network's methods come first
        for layers in (False, True):
            for other in wanted:
                for key in student.functions.methods():
                    if (
                        key.endswith(f".{other}")
                        and (key.split(".")[0] in parts) == layers
                    ):
                        return student.functions[key]
    if name in student.skipped_defs:
        raise UserError(f"{student.path}: {student.skipped_defs[name]}")
    defined = ", ".join(sorted(student.functions)) or "none"
    hint = f"--{role} NAME" if role else ""
    extra = ""
    if student.syntax_errors:
        extra = "; cells skipped for syntax errors: " + "; ".join(
            student.syntax_errors[:3]
        )
    raise UserError(
        f"{student.path}: no function named {name!r} (functions defined: {defined}); name the "
        f"student's {role} function with {hint}{extra}"
    )


def components(student: StudentFile) -> set[str]:
    """The classes another class's methods are built from (`Linear.forward(...)` inside
    TwoLayerNet.loss): layers of the network, not the network (a function that merely makes
    the network, CS231n's init_toy_model, does not count)."""
    classes = {key.split(".")[0] for key in student.functions.methods()}
    used: set[str] = set()
    for key in student.functions.methods():
        owner = key.split(".")[0]
        for node in ast.walk(student.functions.node(key)):
            if isinstance(node, ast.Name) and node.id in classes and node.id != owner:
                used.add(node.id)
    return used
