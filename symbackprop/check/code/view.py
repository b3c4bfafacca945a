"""What the sandboxed student process sees: bubblewrap's arguments for a read-only view that
shows the system libraries, the Python runtime and the packages the check needs, and nothing else.

Not shown: symbackprop (the reference is not importable), the grader's folders, other
submissions, /etc, /home, /root, the host's processes (/proc is the sandbox's own). Every
site-packages folder the interpreter knows is covered by an empty tmpfs; the packages the
check needs (NumPy, and what they require) are bound one by one under SITE.
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import os
import shutil
import site
import sys
import sysconfig
from pathlib import Path

SITE = "/sandbox/site"  # the exposed packages
WORK = "/sandbox/work"  # the only writable folder (a size-limited tmpfs)
RUNNER = "/sandbox/runner.py"
WORK_BYTES = 64 * 1024**2
PACKAGES = ("numpy",)
OPTIONAL = (
    "torch",
)  # shown (with what it requires) when the student's file imports it
# top-level folders that are symlinks into /usr on merged-/usr systems, or real folders
_SYSTEM = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ENVIRONMENT = {
    "PATH": "/usr/bin:/bin",
    "HOME": WORK,
    "TMPDIR": WORK,
    "LC_ALL": "C.UTF-8",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def bwrap_path() -> str | None:
    """bubblewrap on PATH, or None."""
    return shutil.which("bwrap")


def interpreter() -> str:
    """The real Python executable (a venv's python is a link to its base interpreter)."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _requirement_name(requirement: str) -> str:
    """`sympy>=1.13; python_version >= "3.9"` -> `sympy`."""
    for i, ch in enumerate(requirement):
        if not (ch.isalnum() or ch in "-_."):
            return requirement[:i]
    return requirement


def _distribution_paths(name: str, seen: set[str]) -> list[tuple[str, str]]:
    """(host path, name under SITE) of an installed distribution and what it requires."""
    key = name.lower().replace("_", "-").replace(".", "-")
    if key in seen:
        return []
    seen.add(key)
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return []
    base = Path(str(dist.locate_file(""))).resolve()
    tops = sorted(
        {Path(str(f)).parts[0] for f in dist.files or () if str(f)[:2] != ".."}
    )
    out = [(str(base / t), t) for t in tops if (base / t).exists()]
    for req in dist.requires or ():
        if "extra ==" in req:
            continue
        out += _distribution_paths(_requirement_name(req), seen)
    return out


def _hidden(shown: list[str]) -> list[str]:
    """Every package folder under the shown trees: each Python's site- and dist-packages, the
    current interpreter's search path beyond the standard library, and symbackprop itself."""
    stdlib = {
        os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib")
    }
    found = {*site.getsitepackages(), site.getusersitepackages()}
    found |= {p for p in sys.path if p and not _under(os.path.realpath(p), [*stdlib])}
    for root in shown:
        for pattern in ("lib*/python*/*-packages", "local/lib*/python*/*-packages"):
            found |= {str(p) for p in Path(root).glob(pattern)}
    found.add(str(Path(__file__).resolve().parents[2]))
    real = {os.path.realpath(p) for p in found}
    return sorted(p for p in real if os.path.isdir(p) and _under(p, shown))


@functools.cache
def mount_args(packages: tuple[str, ...] = PACKAGES) -> tuple[str, ...]:
    """bubblewrap's file-system arguments: read-only system and runtime, hidden site folders."""
    args = ["--ro-bind", "/usr", "/usr"]
    for path in _SYSTEM:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    shown = ["/usr", *_SYSTEM]
    runtime = os.path.realpath(sys.base_prefix)
    for path in (runtime, os.path.dirname(interpreter())):
        if not _under(path, shown):
            args += ["--ro-bind", path, path]
            shown.append(path)
    for path in _hidden(shown):
        args += ["--tmpfs", path, "--remount-ro", path]
    seen: set[str] = set()
    for package in packages:
        for host, name in _distribution_paths(package, seen):
            args += ["--ro-bind", host, f"{SITE}/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev"]
    args += ["--size", str(WORK_BYTES), "--tmpfs", WORK, "--chdir", WORK]
    return tuple(args)


def bwrap_command(
    bwrap: str,
    seccomp_fd: int | None,
    runner_fd: int,
    packages: tuple[str, ...] = PACKAGES,
) -> list[str]:
    """The whole bubblewrap command line that starts the runner in a fresh sandbox."""
    cmd = [
        bwrap,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--as-pid-1",
        "--cap-drop",
        "ALL",
        "--hostname",
        "sandbox",
        "--clearenv",
    ]
    for name, value in ENVIRONMENT.items():
        cmd += ["--setenv", name, value]
    cmd += mount_args(packages)
    cmd += ["--ro-bind-data", str(runner_fd), RUNNER]
    cmd += [
        "--remount-ro",
        "/",
    ]  # bwrap's root tmpfs: only WORK is writable (and limited)
    if seccomp_fd is not None:
        cmd += ["--add-seccomp-fd", str(seccomp_fd)]
    return [*cmd, "--", interpreter(), "-I", "-S", "-B", RUNNER]
