"""Run a student's extracted code and the probe calls: the child side of check-code's sandbox.

Standalone on purpose (standard library and NumPy only): it runs as a script inside the
sandbox, where symbackprop is not visible. It reads a boot line from stdin (where to report,
NumPy's folder), imports NumPy, then waits for the job line (a submission's statements), so a
child can be started before its submission is known. It loads the file's kept statements,
reports on fd 3, then runs one phase of calls per stdin line (the forward calls, then, once
their results are sent, the backward calls), one event per line, flushed.
The same `run_calls` also serves the autograder helper's in-process mode for callables.
"""

from __future__ import annotations

import base64
import builtins
import faulthandler
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

# compiled file names: "<student 3>" is chunk (cell) 3
STUDENT_FILE_PREFIX = "<student "
MAX_ENTRIES = (
    2**18
)  # larger arrays are reported, not transferred (784-256-10's W1 fits)
MAX_MESSAGE = 400

Emit = Callable[[dict[str, Any]], None]


def encode(value: Any, depth: int = 0) -> Any:
    """A JSON-able form of a value: tuples stay sequences, numbers become float64 arrays."""
    import numpy as np

    if depth > 6:
        return {"__obj__": type(value).__name__}
    if type(value).__module__ == "torch" and type(value).__name__ == "Tensor":
        value = value.detach().cpu().numpy()  # a PyTorch tensor, read back as an array
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
            arr = np.asarray(value, dtype="<f8")
        except (TypeError, ValueError, OverflowError):
            return {"__obj__": type(value).__name__}
        if arr.size > MAX_ENTRIES:
            return {"__obj__": f"array of shape {arr.shape} (too large to compare)"}
        data = base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode("ascii")
        return {"__nd__": list(arr.shape), "b64": data}
    return {"__obj__": type(value).__name__}


def decode(obj: Any) -> Any:
    """Invert `encode` for the arguments the parent sends (writable arrays, tuples, dicts)."""
    import numpy as np

    if isinstance(obj, dict):
        if "__nd__" in obj:
            raw = base64.b64decode(obj["b64"])
            arr = np.frombuffer(raw, dtype="<f8").reshape(obj["__nd__"]).copy()
            return arr.astype(np.int64) if obj.get("int") else arr  # class labels
        if "__seq__" in obj:
            return tuple(decode(v) for v in obj["__seq__"])
        if "__dict__" in obj:
            return {k: decode(v) for k, v in obj["__dict__"]}
    return obj


def as_tensors(value: Any, torch: Any) -> Any:
    """The decoded arguments with every array a PyTorch tensor (float64; labels int64)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, dict):
        return {k: as_tensors(v, torch) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(as_tensors(v, torch) for v in value)
    return value


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
    torch: Any = None,
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
        if torch is not None:  # the file computes on PyTorch tensors
            kwargs = as_tensors(kwargs, torch)
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


def _limit_processes(count: int) -> None:
    """A hard RLIMIT_NPROC for this process's threads (the seccomp filter stops new processes)."""
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (count, count))
    except (ValueError, OSError):
        pass


def _rebase_cpu_limit(seconds: int) -> None:
    """Lower RLIMIT_CPU to `seconds` beyond the CPU this process has used so far.

    A child started ahead of its submission spent CPU importing NumPy: the submission's own
    budget counts from here. Lowering a limit is always allowed; it never rises above the hard
    limit set before exec.
    """
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    new_hard = used + seconds + 1
    if hard != resource.RLIM_INFINITY:
        new_hard = min(hard, new_hard)
    new_soft = min(used + seconds, new_hard)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (new_soft, new_hard))
    except (ValueError, OSError):
        pass


def main() -> None:
    """Child entry point: boot (NumPy imported), wait for the job, load the file, report, then
    run each phase of calls read from stdin.

    Events go to the pipe named in the boot line (the parent reads it with a byte limit and a
    deadline). The student's output goes to /dev/null; faulthandler writes to stderr (a crash,
    or where the code was when the time is nearly up). Exits with os._exit, skipping atexit
    handlers; a child whose stdin closes before a job came exits without running anything.
    """
    requests = os.fdopen(0, "rb")
    boot = json.loads(requests.readline())
    results_fd = boot["results_fd"]
    os.closerange(3, results_fd)  # descriptors bubblewrap read its data from
    os.closerange(results_fd + 1, 1 << 16)
    channel = os.fdopen(results_fd, "w", encoding="utf-8")

    def emit(event: dict[str, Any]) -> None:
        channel.write(json.dumps(event) + "\n")
        channel.flush()

    emit(
        {"event": "started"}
    )  # the sandbox is up: what follows the job is the student's
    try:
        faults = os.fdopen(os.dup(2), "w")
        faulthandler.enable(faults, all_threads=True)
        sys.stdout = sys.stderr = open(os.devnull, "w")
        _limit_processes(boot["threads"])
        if boot["site"]:
            sys.path.insert(0, boot["site"])
        import numpy  # noqa: F401 - imported before the student's code, which expects it

        if boot["guard"]:
            install_guard(boot["work"])
        line = requests.readline()
        if not line:  # booted ahead and never given a submission: its checker is gone
            if boot["guard"]:  # the unisolated child's folder, which ran nothing
                import shutil

                shutil.rmtree(boot["work"], ignore_errors=True)
            os._exit(0)
        job = json.loads(line)
        _rebase_cpu_limit(job["cpu_seconds"])
        late = job["dump_at"] - time.monotonic()  # never later than dump_after from now
        dump = max(0.05, min(job["dump_after"], late))
        faulthandler.dump_traceback_later(dump, file=faults)
        namespace: dict[str, Any] = {"__name__": "student", "__builtins__": builtins}
        errors = load_statements(job["statements"], namespace)
        functions = {name: namespace.get(name) for name in job["functions"]}
        functions = {k: (v if callable(v) else None) for k, v in functions.items()}
        tensors = namespace.get("torch")
        if getattr(tensors, "__name__", None) != "torch" or not hasattr(
            tensors, "from_numpy"
        ):
            tensors = None
        emit(
            {
                "event": "loaded",
                "globals": global_shapes(namespace),
                "errors": errors,
                "missing": [k for k, v in functions.items() if v is None],
            }
        )
        for line in requests:
            phase = json.loads(line)
            run_calls(
                functions, phase["calls"], emit, is_child_student_file, torch=tensors
            )
            emit({"event": "phase_done", "phase": phase["phase"]})
        emit({"event": "finished"})
    except BaseException as exc:  # a runner failure, reported to the parent
        try:
            emit({"event": "runner_error", "message": repr(exc)[:MAX_MESSAGE]})
        except BaseException:
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
