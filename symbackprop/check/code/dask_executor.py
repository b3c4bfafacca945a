"""check-code on an existing Dask cluster (`--dask-scheduler`): `distributed`'s client sends each
submission to a worker, which checks it in the same sandbox as a local run.

A task carries everything: the file's bytes and name (workers need not share the client's
filesystem; each writes the file to a private temporary folder it removes afterwards), the spec,
run_check's options, the requested sandbox and the client's version. Each worker process derives
the truth once (truth.py caches it). A worker sends its row back as JSON, and the client checks
it (keys, types, statuses, diagnosis codes, inert text) before it is printed or written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import __version__, interrupt
from ...errors import UserError
from ...spec import NetworkSpec
from ..inert import inert
from .batch import STATUSES, Submission, check_one, error_row, submission_error
from .load import MAX_BYTES, read_student_file
from .result import CODE_ORDER, NOT_CHECKED
from .sandbox import SIGNAL_POLL, choose_sandbox

INSTALL_DASK = "pip install 'symbackprop[dask]'"
CONNECT_TIMEOUT = (
    5.0  # seconds to reach the scheduler, and for a first worker to be there
)
MAX_ROW_CHARS = 4 * 2**20  # of a row's JSON text from a worker
MAX_MESSAGE = 10_000  # characters of one part's message (a real one has a few hundred)
EXIT_INTERNAL = 4  # the cluster lost the task or sent back something that is not a row
ERROR_KEYS = {"submission", "ok", "error", "exit_code"}
PART_KEYS = {"status", "diagnoses", "message", "max_rel_error"}


@dataclass(frozen=True)
class Task:
    """What a worker needs to check one submission, with nothing left in the client's globals."""

    name: str
    file_name: str  # the file's own name (a notebook is told from a .py by it)
    content: bytes
    shown: str  # the client's path, named in messages instead of the worker's copy
    spec: NetworkSpec
    options: dict[str, Any]
    sandbox: str  # as asked for: auto, bwrap or process (resolved on the worker)
    version: str
    chosen: str = ""  # why this file of the student's folder (Submission.chosen)


def run_task(task: Task) -> str:
    """On a worker: the submission's row as JSON; any failure is that submission's error row."""
    try:
        row = _check_here(task)
    except Exception as exc:  # a bug must cost one row, not the worker's whole batch
        row = error_row(
            task.name,
            f"internal error on the Dask worker: {type(exc).__name__}: {exc}",
            EXIT_INTERNAL,
        )
    return json.dumps(row)


def _check_here(task: Task) -> dict[str, Any]:
    if task.version != __version__:
        return error_row(
            task.name,
            f"the Dask worker runs symbackprop {__version__}, the client {task.version}; "
            "install the same version on both",
            2,
        )
    name = Path(task.file_name).name
    if name != task.file_name or name in ("", ".", ".."):
        return error_row(task.name, "the task's file name is not a file name", 2)
    try:
        mode, _ = choose_sandbox(task.sandbox, several=True)
    except UserError as exc:
        return error_row(task.name, f"on the Dask worker: {exc.message}", 2)
    with tempfile.TemporaryDirectory(prefix="symbackprop-dask-") as folder:
        path = Path(folder) / name
        path.write_bytes(task.content)
        options = {**task.options, "spec": task.spec, "sandbox": mode}
        made = Submission(task.name, path, chosen=task.chosen)
        return check_one(made, options, shown=task.shown)


def check_on_cluster(
    address: str,
    submissions: list[Submission],
    spec: NetworkSpec,
    sandbox: str,
    options: dict[str, Any],
) -> Iterator[dict[str, Any]]:
    """Each submission's row, in order, checked on the cluster at `address`; at most a few
    tasks per worker thread are in flight, so a large class is never all in memory at once."""
    distributed = _import_distributed(address)
    _reach(distributed, address)
    try:
        client = distributed.Client(
            address, timeout=CONNECT_TIMEOUT, set_as_default=False
        )
    except Exception as exc:
        raise _cannot_connect(address, exc) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except (TimeoutError, OSError):
            raise UserError(
                f"--dask-scheduler {address}: no workers joined within "
                f"{CONNECT_TIMEOUT:g} s"
            ) from None
        window = max(8, 2 * sum(client.nthreads().values()))
        yield from _stream(client, submissions, spec, sandbox, options, window)


def _stream(
    client: Any,
    submissions: list[Submission],
    spec: NetworkSpec,
    sandbox: str,
    options: dict[str, Any],
    window: int,
) -> Iterator[dict[str, Any]]:
    """Send `window` submissions ahead of the one waited for; cancel the rest on the way out."""
    ahead: deque[tuple[Submission, Any]] = deque()
    todo = iter(submissions)
    try:
        while True:
            while len(ahead) < window and (sub := next(todo, None)) is not None:
                ahead.append((sub, _send(client, sub, spec, sandbox, options)))
            if not ahead:
                return
            sub, sent = ahead.popleft()
            if isinstance(sent, dict):
                yield sent
            else:
                yield _collect(sub, sent, spec, sandbox)
    finally:
        for _, sent in ahead:
            if not isinstance(sent, dict):
                sent.cancel()


def _send(
    client: Any,
    sub: Submission,
    spec: NetworkSpec,
    sandbox: str,
    options: dict[str, Any],
) -> Any:
    """The submission's task on the cluster, or its row at once when there is nothing to send
    (no file, or one that cannot be read or is too large)."""
    if sub.path is None:
        return check_one(sub, {})
    try:
        with sub.path.open("rb") as f:
            content = f.read(MAX_BYTES + 1)
    except OSError:
        content = None
    if content is None or len(content) > MAX_BYTES:
        try:  # the loader's own message for it, and nothing of the student's runs here
            read_student_file(sub.path)
        except UserError as exc:
            return submission_error(sub, exc.message, exc.exit_code)
        changed = f"{sub.path}: the file changed while it was read"
        return submission_error(sub, changed, 2)
    task = Task(
        sub.name,
        sub.path.name,
        content,
        sub.shown or str(sub.path),
        spec,
        dict(options),
        sandbox,
        __version__,
        sub.chosen,
    )
    return client.submit(run_task, task, pure=False)


def _result(future: Any) -> Any:
    """The task's result, waited for in short steps so a TERM is seen soon."""
    while not future.done():
        with contextlib.suppress(
            TimeoutError
        ):  # the wait's, or the task's (seen below)
            future.result(timeout=SIGNAL_POLL)
        interrupt.check()
    return future.result()


def _collect(
    sub: Submission, future: Any, spec: NetworkSpec, sandbox: str
) -> dict[str, Any]:
    """The task's row once it is done, checked; a lost task or a bad row is an error row."""
    try:
        text = _result(future)
    except Exception as exc:  # the worker died, the task was lost or cancelled
        return error_row(
            sub.name,
            f"the Dask cluster did not check it: {type(exc).__name__}: {exc}",
            EXIT_INTERNAL,
        )
    try:
        if not isinstance(text, str) or len(text) > MAX_ROW_CHARS:
            raise ValueError("not a row's JSON text")
        row = valid_row(json.loads(text), sub.name, spec, sandbox)
    except ValueError as exc:  # json.JSONDecodeError is one
        return error_row(
            sub.name, f"the Dask worker sent back an invalid row ({exc})", EXIT_INTERNAL
        )
    # which file it was, as the client knows it: never the worker's word
    told = {"file": sub.shown or str(sub.path)}
    if sub.chosen:
        told["chosen"] = sub.chosen
    return {"submission": row.pop("submission"), **told, **row}


def valid_row(value: Any, name: str, spec: NetworkSpec, sandbox: str) -> dict[str, Any]:
    """A row from a worker, checked to be one check_one makes for this submission and spec;
    ValueError otherwise. Every string in it is made inert."""
    row = _object(value, "the row")
    if row.get("submission") != name:
        raise ValueError("it names another submission")
    told = {k: row.pop(k) for k in ("file", "chosen") if k in row}
    if not all(isinstance(v, str) for v in told.values()):
        raise ValueError("its file or chosen field is not text")
    if "error" in row:
        _keys(row, ERROR_KEYS, "the error row")
        code = row["exit_code"]
        if row["ok"] is not False or not isinstance(row["error"], str):
            raise ValueError("its ok or error field has the wrong type")
        if type(code) is not int or code not in (1, 2, EXIT_INTERNAL):
            raise ValueError("its exit code is not 1, 2 or 4")
        return error_row(name, row["error"], code)
    for key, kind in (("ok", bool), ("reduction", str), ("sandbox", str)):
        if type(row.get(key)) is not kind:
            raise ValueError(f"its {key} field is missing or not a {kind.__name__}")
    if type(row.get("probe_seed")) is not int:
        raise ValueError("its probe_seed is missing or not an integer")
    if row["reduction"] != spec.reduction:
        raise ValueError(f"it was checked with reduction {inert(row['reduction'], 40)}")
    expected = "process" if sandbox == "process" else "bwrap"
    if row["sandbox"] != expected:
        raise ValueError(
            f"it ran in sandbox {inert(row['sandbox'], 40)}, not {expected}"
        )
    gradients = _object(row.get("gradients"), "its gradients")
    layers_alone = not gradients and bool(
        row.get("layers")
    )  # a file of layer functions
    if set(gradients) != set(spec.param_names) and not layers_alone:
        raise ValueError("its gradients are not the network's parameters")
    parts = {n: _part(p, n) for n, p in gradients.items()}
    forward = _part(row.get("forward"), "forward")
    if layers_alone and forward["status"] != NOT_CHECKED:
        raise ValueError("it has no gradients but a checked forward")
    others = {  # a (loss, grads) function's loss part, and each layer function's parts
        **({"loss": _part(row["loss"], "loss")} if "loss" in row else {}),
        **{
            f"layers {n}": _part(p, n)
            for n, p in _object(row.get("layers", {}), "its layers").items()
        },
    }
    # ok: every gradient and layer part ok; a forward or loss not checked does not count
    optional = [forward, *(p for n, p in others.items() if n == "loss")]
    must = [*parts.values(), *(p for n, p in others.items() if n != "loss")]
    if row["ok"] and not (
        all(p["status"] == "ok" for p in must)
        and all(p["status"] in ("ok", NOT_CHECKED) for p in optional)
    ):
        raise ValueError("it is ok with a part that is not")
    checked = {k: _inert_all(v) for k, v in row.items()}
    out = {**checked, "forward": forward, "gradients": parts}
    if "loss" in others:
        out["loss"] = others["loss"]
    if "layers" in row:
        out["layers"] = {
            n[len("layers ") :]: p for n, p in others.items() if n != "loss"
        }
    return out


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not an object")
    return value


def _keys(value: dict[str, Any], keys: set[str], what: str) -> None:
    if set(value) != keys:
        raise ValueError(f"{what} does not have the fields {', '.join(sorted(keys))}")


def _part(value: Any, name: str) -> dict[str, Any]:
    """A report PART, checked field by field."""
    part = _object(value, f"part {name}")
    _keys(part, PART_KEYS, f"part {name}")
    codes = part["diagnoses"]
    error = part["max_rel_error"]
    if part["status"] not in STATUSES:
        raise ValueError(f"part {name} has an unknown status")
    if not isinstance(codes, list) or not all(c in CODE_ORDER for c in codes):
        raise ValueError(f"part {name} has an unknown diagnosis")
    if not isinstance(part["message"], str):
        raise ValueError(f"part {name}'s message is not text")
    if error is not None and type(error) is not float:
        raise ValueError(f"part {name}'s max_rel_error is not a number")
    return {**part, "message": inert(part["message"], MAX_MESSAGE)}


def _inert_all(value: Any) -> Any:
    """JSON with every string (keys too) made inert."""
    if isinstance(value, str):
        return inert(value, MAX_MESSAGE)
    if isinstance(value, list):
        return [_inert_all(v) for v in value]
    if isinstance(value, dict):
        return {inert(k, 200): _inert_all(v) for k, v in value.items()}
    return value


def _import_distributed(address: str) -> Any:
    try:
        import distributed
    except ImportError:
        raise UserError(
            f"--dask-scheduler {address}: Dask's distributed is not installed; "
            f"{INSTALL_DASK}"
        ) from None
    return distributed


def _reach(distributed: Any, address: str) -> None:
    """Ask the address who it is before a Client is made: whatever answers that is not a Dask
    scheduler (a proxy, a web server) is one line, not a hang in the client's shutdown."""

    async def identity() -> Any:
        args = distributed.Security().get_connection_args("client")
        comm = await distributed.comm.connect(address, timeout=CONNECT_TIMEOUT, **args)
        try:
            await comm.write({"op": "identity"})
            return await asyncio.wait_for(comm.read(), CONNECT_TIMEOUT)
        finally:
            comm.abort()

    try:
        scheme, location = distributed.comm.addressing.parse_address(address)
        if scheme in (
            "tcp",
            "tls",
        ):  # a refused port in an instant, not after the timeout
            host, port = distributed.comm.addressing.parse_host_port(location)
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        reply = asyncio.run(identity())
    except Exception as exc:
        raise _cannot_connect(address, exc) from None
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        raise UserError(f"--dask-scheduler {address}: not a Dask scheduler")


def _cannot_connect(address: str, exc: Exception) -> UserError:
    reason = str(exc).splitlines()[0] if str(exc) else ""
    reason = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
    return UserError(
        f"--dask-scheduler {address}: cannot connect ({inert(reason, 300)})"
    )
