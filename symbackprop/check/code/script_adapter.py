"""The adapter of a tutorial script: the `def` the sandbox child runs (never the parent).

It executes the script's cells (the training loop rewritten by script_find) in a fresh namespace
and stops at the end of the loop's first pass, returning copies of the data and parameters from
before the pass and the gradient variables after it. Like runner.py, this text runs the
student's own code, so it lives apart from the modules that only read the script.
"""

from __future__ import annotations

from collections.abc import Sequence

from .student_file import Statement

ADAPTER = "_check_code_script_"
LOOP_HOOK = "__check_code_loop__"
WHILE_HOOK = "__check_code_while__"


def adapter(
    cells: Sequence[tuple[int, str]],
    names: Sequence[str],
    grads: Sequence[str],
    chunk: int,
) -> Statement:
    """The `def` the sandbox runs: the script's `cells` to the end of the loop's first pass.
    It returns ({name: copy before the pass}, {gradient: value after it}), or None if the
    loop never ran."""
    source = f"""def {ADAPTER}():
    import copy as _copy
    _ns = {{"__name__": "__main__"}}
    _seen = {{}}

    class _Done(BaseException):
        pass

    def _keep(names):
        out = {{}}
        for _k in names:
            if _k in _ns and not callable(_ns[_k]):
                try:
                    out[_k] = _copy.deepcopy(_ns[_k])
                except Exception:
                    pass
        return out

    def _loop(iterable):
        for _item in iterable:
            _seen["before"] = _keep({list(names)!r})
            yield _item
            _seen["after"] = _keep({list(grads)!r})
            raise _Done

    def _while(test):
        if "before" in _seen:
            _seen["after"] = _keep({list(grads)!r})
            raise _Done
        if test:
            _seen["before"] = _keep({list(names)!r})
        return test

    _ns[{LOOP_HOOK!r}] = _loop
    _ns[{WHILE_HOOK!r}] = _while
    try:
        for _chunk, _code in {list(cells)!r}:
            exec(compile(_code, "<student %d>" % _chunk, "exec"), _ns)
    except _Done:
        pass
    if "before" not in _seen:
        return None
    if "after" not in _seen:  # the loop was left during its first pass
        _seen["after"] = _keep({list(grads)!r})
    return (_seen["before"], _seen["after"])
"""
    return Statement(chunk, 1, source)
