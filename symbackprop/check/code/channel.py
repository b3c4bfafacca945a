"""The parent's side of the sandbox's messages: every line the child sends is checked before use.

The child is the student's process, so nothing it sends is trusted: a line is at most
MAX_LINE_BYTES, all lines together at most MAX_TOTAL_BYTES, every field has its type and range,
call ids must belong to the phase being run, arrays are float64 with the shape they declare and
at most MAX_ENTRIES entries, and every string is made inert. Anything else is a ProtocolError,
which the check reports as that part's error.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

import numpy as np

from ..inert import inert
from .runner import MAX_ENTRIES, STUDENT_FILE_PREFIX

MAX_LINE_BYTES = 16 * 1024**2
MAX_TOTAL_BYTES = 256 * 1024**2
MAX_ITEMS = 64  # entries of a returned tuple or dict
MAX_DEPTH = 6  # nesting of returned tuples and dicts
MAX_DIMS = 8
MAX_ERRORS = 50  # loading errors kept
MAX_BRACKETS = 20_000  # objects and lists in one message (a real one has a few hundred)


class ProtocolError(Exception):
    """A message from the child that is not one the runner sends."""


class Opaque:
    """A returned value that is not an array (a string, None, a generator...), by type name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"<{self.kind}>"


def _int(value: Any, what: str, low: int = 0, high: int = 2**31) -> int:
    if type(value) is not int or not low <= value < high:
        raise ProtocolError(f"{what} is not an integer in range")
    return value


def _str(value: Any, what: str, limit: int = 400) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} is not text")
    return inert(value, limit)


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} is not an object")
    return value


def _is_student_file(name: Any) -> bool:
    """`<student 3>`: code compiled from chunk 3 of the student's file."""
    if not isinstance(name, str) or not name.endswith(">"):
        return False
    number = name[len(STUDENT_FILE_PREFIX) : -1]
    return name.startswith(STUDENT_FILE_PREFIX) and number.isdigit() and len(number) < 7


def where(value: Any) -> dict[str, Any] | None:
    """A traceback frame in the student's file, or None (anything else is dropped)."""
    if value is None:
        return None
    frame = _dict(value, "a frame")
    file = frame.get("file")
    if not _is_student_file(file):
        return None
    return {
        "file": file,
        "line": _int(frame.get("line"), "a line number", 0, 10**8),
        "function": _str(frame.get("function", "?"), "a function name", 80),
    }


def error(value: Any) -> dict[str, Any]:
    """An exception's type, message and frame."""
    info = _dict(value, "an error")
    return {
        "type": _str(info.get("type"), "an error type", 80),
        "message": _str(info.get("message", ""), "an error message"),
        "where": where(info.get("where")),
    }


def decode(obj: Any, depth: int = 0) -> Any:
    """A value the child returned: arrays, tuples, dicts, or Opaque; checked as it is built."""
    if depth > MAX_DEPTH:
        raise ProtocolError("a returned value is nested too deeply")
    if isinstance(obj, bool) or obj is None:
        raise ProtocolError("a returned value is not encoded")
    if isinstance(obj, int | float):
        if isinstance(obj, int) and abs(obj) > 2**63:
            raise ProtocolError("a returned number is out of range")
        return obj
    node = _dict(obj, "a returned value")
    if "__nd__" in node:
        shape = node["__nd__"]
        if not isinstance(shape, list) or len(shape) > MAX_DIMS:
            raise ProtocolError("an array's shape is not a list of sizes")
        dims = [_int(s, "an array size", 0, MAX_ENTRIES + 1) for s in shape]
        if math.prod(dims) > MAX_ENTRIES:
            raise ProtocolError("an array has more entries than allowed")
        data = node.get("b64")
        if not isinstance(data, str) or len(data) > 4 * (8 * MAX_ENTRIES // 3 + 4):
            raise ProtocolError("an array's data is missing")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("an array's data is not base64") from None
        if len(raw) != 8 * math.prod(dims):
            raise ProtocolError("an array's data does not match its shape")
        return np.frombuffer(raw, dtype="<f8").reshape(dims).astype(float)
    if "__seq__" in node:
        items = node["__seq__"]
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise ProtocolError("a returned sequence is malformed")
        return tuple(decode(v, depth + 1) for v in items)
    if "__dict__" in node:
        items = node["__dict__"]
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise ProtocolError("a returned dict is malformed")
        out: dict[str, Any] = {}
        for item in items:
            if not (isinstance(item, list) and len(item) == 2):
                raise ProtocolError("a returned dict entry is malformed")
            out[_str(item[0], "a dict key", 80)] = decode(item[1], depth + 1)
        return out
    if "__obj__" in node:
        return Opaque(_str(node["__obj__"], "a type name", 120))
    raise ProtocolError("a returned value has an unknown form")


def text(value: Any, what: str) -> str:
    """A message string from the child, inert."""
    return _str(value, what)


def parse_line(line: bytes) -> dict[str, Any]:
    """One JSON object from a line (its event name checked later). A line with more brackets
    than any real message has is refused before parsing (a JSON bomb costs memory)."""
    if line.count(b"{") + line.count(b"[") > MAX_BRACKETS:
        raise ProtocolError("a message with too many nested values")
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        raise ProtocolError("a line is not JSON") from None
    event = _dict(obj, "a message")
    if not isinstance(event.get("event"), str):
        raise ProtocolError("a message has no event name")
    return event


def loaded(event: dict[str, Any], functions: list[str], chunks: int) -> dict[str, Any]:
    """The report after loading the file: module-level array shapes, errors, missing names."""
    shapes = _dict(event.get("globals"), "the globals")
    globals_ = {}
    for name, shape in list(shapes.items())[:1000]:
        if isinstance(name, str) and name.isidentifier() and isinstance(shape, list):
            if len(shape) <= MAX_DIMS:
                globals_[name] = [_int(s, "a global's size", 0, 2**31) for s in shape]
    errors = event.get("errors")
    missing = event.get("missing")
    if not isinstance(errors, list) or not isinstance(missing, list):
        raise ProtocolError("the loading report is malformed")
    kept = []
    for e in errors[:MAX_ERRORS]:
        info = error(e)
        st = _dict(_dict(e, "an error").get("statement"), "a statement")
        info["statement"] = {
            "chunk": _int(st.get("chunk"), "a chunk", 0, max(chunks, 1)),
            "line": _int(st.get("line"), "a line", 0, 10**8),
        }
        kept.append(info)
    if not all(m in functions for m in missing):
        raise ProtocolError("the loading report names unknown functions")
    return {"globals": globals_, "errors": kept, "missing": list(missing)}
