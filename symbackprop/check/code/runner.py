"""Run a student's extracted code and the probe calls: the child side of check-code's sandbox.

Standalone on purpose (standard library and NumPy only): the child runs it as a script with
`python -I`, so symbackprop is not importable there. Results stream to a JSON-lines file, one
event per line and flushed, so a hang or a crash still leaves every call finished before it.
The same `run_calls` also serves the autograder helper's in-process mode for callables.
"""

from __future__ import annotations

import builtins
import faulthandler
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Any

# compiled file names: "<student 3>" is chunk (cell) 3
STUDENT_FILE_PREFIX = "<student "
MAX_ENTRIES = 200_000  # larger returned arrays are reported, not transferred
MAX_MESSAGE = 400

Emit = Callable[[dict[str, Any]], None]


class Opaque:
    """A returned value that is not an array (a string, None, a generator...), by type name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"<{self.kind}>"


def encode(value: Any, depth: int = 0) -> Any:
    """A JSON-able form of a returned value: tuples stay sequences, numbers become arrays."""
    import numpy as np

    if depth > 6:
        return {"__obj__": type(value).__name__}
    if isinstance(value, dict):
        items = list(value.items())[:64]
        return {"__dict__": [[str(k), encode(v, depth + 1)] for k, v in items]}
    if isinstance(value, tuple) or (
        isinstance(value, list)
        and value
        and all(isinstance(v, np.ndarray) for v in value)
    ):
        return {"__seq__": [encode(v, depth + 1) for v in list(value)[:64]]}
    if isinstance(
        value, np.ndarray | list | int | float | np.generic
    ) and not isinstance(value, bool):
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return {"__obj__": type(value).__name__}
        if arr.size > MAX_ENTRIES:
            return {"__obj__": f"array of shape {arr.shape} (too large to compare)"}
        return {"__nd__": list(arr.shape), "data": arr.ravel().tolist()}
    return {"__obj__": type(value).__name__}


def decode(obj: Any) -> Any:
    """Invert `encode`: arrays, tuples, dicts and Opaque markers; plain numbers stay as they are."""
    import numpy as np

    if isinstance(obj, dict):
        if "__nd__" in obj:
            return np.array(obj["data"], dtype=float).reshape(obj["__nd__"])
        if "__seq__" in obj:
            return tuple(decode(v) for v in obj["__seq__"])
        if "__dict__" in obj:
            return {k: decode(v) for k, v in obj["__dict__"]}
        if "__obj__" in obj:
            return Opaque(obj["__obj__"])
    return obj


def student_frame(tb: Any, is_student: Callable[[str], bool]) -> dict[str, Any] | None:
    """The innermost traceback frame in the student's code: file, line and function."""
    found = None
    for frame in traceback.extract_tb(tb):
        if is_student(frame.filename):
            found = {
                "file": frame.filename,
                "line": frame.lineno,
                "function": frame.name,
            }
    return found


def error_info(exc: BaseException, is_student: Callable[[str], bool]) -> dict[str, Any]:
    """Type, message and the student's line of an exception, small enough to send back."""
    message = str(exc)
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return {
        "type": type(exc).__name__,
        "message": message,
        "where": student_frame(exc.__traceback__, is_student),
    }


def is_child_student_file(filename: str) -> bool:
    """True for code compiled from the student's file in the child."""
    return filename.startswith(STUDENT_FILE_PREFIX)


def run_calls(
    functions: dict[str, Callable[..., Any] | None],
    calls: Iterable[dict[str, Any]],
    emit: Emit,
    is_student: Callable[[str], bool],
    catch: tuple[type[BaseException], ...] = (BaseException,),
) -> None:
    """Call each probe (func name + encoded keyword arguments), emitting start and outcome events."""
    for call in calls:
        emit({"event": "start", "id": call["id"]})
        fn = functions.get(call["func"])
        if fn is None:
            emit(
                {
                    "event": "raised",
                    "id": call["id"],
                    "error": {
                        "type": "NameError",
                        "message": f"{call['func']} is not defined after loading the file",
                        "where": None,
                    },
                }
            )
            continue
        kwargs = {name: decode(value) for name, value in call["kwargs"].items()}
        try:
            value = fn(**kwargs)
        except catch as exc:
            emit(
                {
                    "event": "raised",
                    "id": call["id"],
                    "error": error_info(exc, is_student),
                }
            )
        else:
            emit({"event": "done", "id": call["id"], "value": encode(value)})


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_BLOCKED_EVENTS = frozenset(
    (
        "os.system os.exec os.posix_spawn os.spawn os.fork os.forkpty os.kill os.killpg "
        "subprocess.Popen pty.spawn socket.connect socket.bind socket.sendto socket.sendmsg "
        "socket.getaddrinfo ctypes.dlopen ctypes.dlsym ctypes.call_function ctypes.cdata "
        "webbrowser.open os.startfile"
    ).split()
)
_PATH_EVENTS = frozenset(
    (
        "os.remove os.rmdir os.rename os.mkdir os.symlink os.link os.chmod os.chown "
        "os.truncate os.utime shutil.rmtree shutil.copyfile shutil.copymode shutil.move"
    ).split()
)


def install_guard(allowed_dir: str) -> None:
    """Refuse writes outside the temporary folder, new processes, sockets and ctypes.

    An audit hook cannot be removed once added. It is defence in depth on top of the
    resource limits and the throw-away working folder, not a jail.
    """
    allowed = os.path.realpath(allowed_dir)

    def inside(path: Any) -> bool:
        if isinstance(path, int):
            return True  # an already open descriptor
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return real == allowed or real.startswith(allowed + os.sep)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            writing = (isinstance(flags, int) and flags & _WRITE_FLAGS) or (
                isinstance(mode, str) and any(c in mode for c in "wax+")
            )
            if writing and not inside(path):
                raise PermissionError(
                    f"check-code sandbox: writing to {path!r} is not allowed"
                )
        elif event in _BLOCKED_EVENTS:
            raise PermissionError(f"check-code sandbox: {event} is not allowed")
        elif event in _PATH_EVENTS:
            paths = [a for a in args if isinstance(a, str | bytes | os.PathLike)]
            if not all(inside(p) for p in paths):
                raise PermissionError(f"check-code sandbox: {event} outside its folder")

    sys.addaudithook(hook)


def load_statements(
    statements: list[dict[str, Any]], namespace: dict[str, Any]
) -> list[dict[str, Any]]:
    """Execute the kept statements one by one at their own line numbers; collect failures."""
    errors = []
    for st in statements:
        filename = f"{STUDENT_FILE_PREFIX}{st['chunk']}>"
        try:
            code = compile("\n" * (st["line"] - 1) + st["source"], filename, "exec")
            exec(code, namespace)  # the student's code, inside the sandbox
        except BaseException as exc:  # any failure is reported; loading goes on
            info = error_info(exc, is_child_student_file)
            info["statement"] = {"chunk": st["chunk"], "line": st["line"]}
            errors.append(info)
    return errors


def global_shapes(namespace: dict[str, Any]) -> dict[str, list[int]]:
    """Shapes of the module-level arrays (the student's initial W1, b1, X, ...)."""
    import numpy as np

    return {
        name: list(value.shape)
        for name, value in namespace.items()
        if isinstance(value, np.ndarray) and not name.startswith("_")
    }


def main(job_dir: str) -> None:
    """Child entry point: load the file, report its arrays, read the calls from stdin, run them.

    The report goes to stdout (the parent waits for it); call events go to results.jsonl. The
    student's own output is sent to /dev/null. Exits with os._exit, skipping atexit handlers.
    """
    faults = open(os.path.join(job_dir, "faults.txt"), "w")  # kept open for the dumps
    faulthandler.enable(faults, all_threads=True)
    faulthandler.register(signal.SIGUSR1, file=faults, all_threads=True)
    with open(os.path.join(job_dir, "job.json"), encoding="utf-8") as f:
        job = json.load(f)
    out = open(os.path.join(job_dir, "results.jsonl"), "w", encoding="utf-8")
    report = os.fdopen(os.dup(1), "w", encoding="utf-8")

    def emit(event: dict[str, Any]) -> None:
        out.write(json.dumps(event) + "\n")
        out.flush()

    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        sys.stdout = sys.stderr = open(os.devnull, "w")
        import numpy  # noqa: F401 - imported before the guard, as the student's code expects

        install_guard(job_dir)
        namespace: dict[str, Any] = {"__name__": "student", "__builtins__": builtins}
        errors = load_statements(job["statements"], namespace)
        functions = {name: namespace.get(name) for name in job["functions"]}
        functions = {k: (v if callable(v) else None) for k, v in functions.items()}
        loaded = {
            "globals": global_shapes(namespace),
            "errors": errors,
            "missing": [k for k, v in functions.items() if v is None],
        }
        report.write(json.dumps(loaded) + "\n")
        report.flush()
        calls = json.loads(os.fdopen(0, "rb").read() or b"[]")
        os.dup2(devnull, 0)
        run_calls(functions, calls, emit, is_child_student_file)
        emit({"event": "finished"})
    except BaseException as exc:  # a runner failure, reported to the parent
        emit(
            {
                "event": "runner_error",
                "message": "".join(traceback.format_exception(exc)),
            }
        )
    out.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
