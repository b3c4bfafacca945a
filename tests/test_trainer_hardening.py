"""The generated trainer against bad input: every refusal is one line and exit 2, nothing lost.

Each case runs a real generated trainer as a subprocess (as a user would) and checks the exit
code, that stderr is exactly one line with no traceback, that no training ran when the input
was refused, and that files the user had are byte-for-byte what they were.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import types
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_trainer_cli import run

from symbackprop.emit.trainer import build_trainer, load_trainer
from symbackprop.spec import default_spec, make_spec

SHAPES = {"W1": (2, 2), "b1": (2,), "W2": (1, 2), "b2": (1,)}  # the 2-2-1 networks here
MARKER = "generated-trainer-weights.npy"  # the entry --save adds (weights.FORMAT_KEY)


@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    """Trainer sources: the seed spec (its own data and weights) in both styles, and a 2-2-1
    spec without data, whose random data and weights come from --seed."""
    return {
        "seed": build_trainer(default_spec()).source,
        "scalar": build_trainer(default_spec(), style="scalar").source,
        "nodata": build_trainer(make_spec(layers=(2, 2, 1))).source,
    }


@pytest.fixture(scope="module")
def trainers(
    sources: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hardening")
    out = {}
    for key, source in sources.items():
        out[key] = root / f"{key}.py"
        out[key].write_text(source)
    return out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_refused(
    r: subprocess.CompletedProcess, message: str, code: int = 2, trained: bool = False
) -> None:
    """Exit `code`, one stderr line holding `message`, no traceback; no epoch printed."""
    assert r.returncode == code, (r.returncode, r.stdout[-300:], r.stderr)
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert message in r.stderr, r.stderr
    if not trained:
        assert "poch" not in r.stdout, r.stdout[:300]


def good_params(value: float = 0.5) -> dict[str, np.ndarray]:
    return {name: np.full(shape, value) for name, shape in SHAPES.items()}


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def write_zip(
    path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED
) -> None:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def members_of(params: dict[str, np.ndarray]) -> dict[str, bytes]:
    return {f"{name}.npy": npy_bytes(value) for name, value in params.items()}


# --------------------------------------------------------------------------- --save


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder no file can be created in: /sys for root (who ignores modes), else mode 0o500."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    return folder


def test_save_targets_are_checked_before_training(
    trainers: dict[str, Path], tmp_path: Path
) -> None:
    foreign = tmp_path / "notes.npz"
    foreign.write_bytes(b"my own notes, not weights\n")
    plain_npz = tmp_path / "other.npz"  # an .npz, but not one --save wrote
    np.savez(plain_npz, **good_params())
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    (tmp_path / "link.npz").symlink_to(target)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.npz").mkdir()
    unwritable = _unwritable_folder(tmp_path)
    not_ours = "exists and was not written by this trainer's --save"
    cases = [  # the --save value, the message, whether --force is the way out
        ("nodir/x.npz", "nodir does not exist", False),
        ("afile/x.npz", "afile is not a folder", False),
        (str(unwritable / "x.npz"), f"cannot write in the folder {unwritable}", False),
        ("notes.npz", f"notes.npz {not_ours}", True),
        ("other.npz", f"other.npz {not_ours}", True),
        ("link.npz", "link.npz is a symbolic link, which --save does not follow", True),
        ("adir", "adir.npz is a folder", False),
        (str(tmp_path) + "/", "is a folder; give a file name", False),
        ("", "--save '' names no file", False),
    ]
    before = {p.name: digest(p) for p in tmp_path.iterdir() if p.is_file()}
    listing = sorted(os.listdir(tmp_path))
    for save, message, force_helps in cases:
        r = run(trainers["seed"], "--epochs", "3", "--save", save, cwd=tmp_path)
        assert_refused(r, message)
        assert ("pass --force" in r.stderr) == force_helps, r.stderr
    assert {p.name: digest(p) for p in tmp_path.iterdir() if p.is_file()} == before
    assert sorted(os.listdir(tmp_path)) == listing  # no temporary file left over
    assert os.readlink(tmp_path / "link.npz") == str(target)
    assert target.read_text() == "keep me\n"


def test_force_replaces_a_foreign_file_and_a_link_itself(
    trainers: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "notes.npz").write_bytes(b"not weights")
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    (tmp_path / "link.npz").symlink_to(target)
    for name in ("notes.npz", "link.npz"):
        r = run(trainers["seed"], "--save", name, "--force", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[-1] == f"saved weights to {name}"
        with np.load(tmp_path / name) as saved:
            assert sorted(saved.files) == sorted([*SHAPES, MARKER[:-4]])
    assert not (
        tmp_path / "link.npz"
    ).is_symlink()  # the link was replaced, not followed
    assert target.read_text() == "keep me\n"


def test_save_replaces_its_own_file_and_loads_it_back(
    trainers: dict[str, Path], tmp_path: Path
) -> None:
    r1 = run(trainers["seed"], "--epochs", "1", "--save", "w", cwd=tmp_path)
    assert r1.returncode == 0 and r1.stdout.endswith("saved weights to w.npz\n")
    first = digest(tmp_path / "w.npz")
    r2 = run(trainers["seed"], "--epochs", "50", "--save", "w.npz", cwd=tmp_path)
    assert r2.returncode == 0, r2.stderr
    assert digest(tmp_path / "w.npz") != first  # replaced, without --force
    assert sorted(os.listdir(tmp_path)) == ["w.npz"]  # no temporary file left over
    with zipfile.ZipFile(tmp_path / "w.npz") as archive:
        assert archive.namelist()[0] == MARKER
    # one epoch from the saved weights is epoch 51 of a single 51-epoch run
    r3 = run(trainers["seed"], "--epochs", "1", "--load", "w.npz", cwd=tmp_path)
    whole = run(trainers["seed"], "--epochs", "51", cwd=tmp_path)
    assert r3.returncode == 0 and whole.returncode == 0, r3.stderr
    header, *lines = whole.stdout.splitlines()
    epoch_51 = lines[50]
    assert epoch_51.startswith("Epoch: 51 loss: ")
    assert (
        r3.stdout == header + "\n" + epoch_51.replace("Epoch: 51 ", "Epoch: 1 ") + "\n"
    )


@pytest.fixture
def module(sources: dict[str, str]) -> types.ModuleType:
    return load_trainer(sources["seed"], "hardening_trainer")


@pytest.mark.parametrize(
    "error", [OSError(28, "No space left on device"), KeyboardInterrupt()]
)
def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    module: types.ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
) -> None:
    path = tmp_path / "w.npz"
    module.save_params(str(path), good_params(0.25), force=False)
    old = digest(path)

    def half_then_fail(fh: io.BufferedWriter, **arrays: np.ndarray) -> None:
        fh.write(b"PK\x03\x04 half an archive")
        raise error

    monkeypatch.setattr(np, "savez", half_then_fail)
    # a write error is the user's one-line problem; an interrupt goes on up to main
    expected = module.DataError if isinstance(error, OSError) else KeyboardInterrupt
    with pytest.raises(expected):
        module.save_params(str(path), good_params(0.75), force=False)
    assert digest(path) == old
    assert os.listdir(tmp_path) == ["w.npz"]


def test_interrupted_training_keeps_the_old_weights(
    trainers: dict[str, Path], tmp_path: Path
) -> None:
    r = run(trainers["seed"], "--epochs", "1", "--save", "w.npz", cwd=tmp_path)
    assert r.returncode == 0
    old = digest(tmp_path / "w.npz")
    args = ["--epochs", "1000000000", "--log-every", "100000000", "--save", "w.npz"]
    with subprocess.Popen(
        [sys.executable, str(trainers["seed"]), *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # the first line arrives at once
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline().startswith("# loss:")
        assert proc.stdout.readline().startswith("epoch 1/")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip() == f"{trainers['seed'].name}: interrupted"
    assert digest(tmp_path / "w.npz") == old
    assert os.listdir(tmp_path) == ["w.npz"]


# --------------------------------------------------------------------------- --load


def _limit_memory() -> None:
    """Run the trainer with 1 GiB of address space: a GB allocation fails, loudly."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def _header_only(shape: tuple[int, ...], data: bytes = b"\0" * 32) -> bytes:
    """A .npy whose header declares `shape` of float64, followed by just `data`."""
    buf = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + data


def _bad_archives() -> list[tuple[str, Callable[[Path], None], str]]:
    good = good_params()

    def member(name: str, data: bytes) -> Callable[[Path], None]:
        return lambda p: write_zip(p, {**members_of(good), f"{name}.npy": data})

    def savez(**changes: object) -> Callable[[Path], None]:
        params = {k: v for k, v in {**good, **changes}.items() if v is not None}
        return lambda p: np.savez(p, **params)

    def truncated(p: Path) -> None:
        np.savez(p, **good)
        p.write_bytes(p.read_bytes()[:300])

    def flipped(p: Path) -> None:
        np.savez(p, **good)
        raw = bytearray(p.read_bytes())
        raw[120] ^= 0xFF  # inside W1's entry: its CRC no longer matches
        p.write_bytes(bytes(raw))

    def bzip2(p: Path) -> None:
        write_zip(p, members_of(good), compression=zipfile.ZIP_BZIP2)

    def deflated_big(p: Path) -> None:  # a small file, but b2 inflates to 2 MB
        members = {**members_of(good), "b2.npy": npy_bytes(good["b2"]) + b"\0" * 2**21}
        write_zip(p, members, compression=zipfile.ZIP_DEFLATED)

    def too_large(p: Path) -> None:
        write_zip(
            p, {**members_of(good), "b2.npy": npy_bytes(good["b2"]) + b"\0" * 2**20}
        )

    def single_npy(p: Path) -> None:
        with open(p, "wb") as fh:
            np.save(fh, good["W1"])

    return [
        ("garbage", lambda p: p.write_bytes(b"\x00garbage" * 10), "not a zip file"),
        ("truncated", truncated, "cannot read it as weights saved by --save"),
        ("crc", flipped, "Bad CRC-32"),
        ("npy", single_npy, "a single .npy array, not the .npz archive"),
        ("missing", savez(b2=None), "has no b2; it was not saved from this network"),
        ("extra", savez(W3=np.zeros(2)), "holds 'W3.npy', which is no parameter"),
        ("shape", savez(W1=np.zeros((3, 3))), "W1 has shape (3, 3), expected (2, 2)"),
        ("object", savez(b1=np.array([1.0, None], dtype=object)), "b1 holds object"),
        ("struct", savez(b1=np.zeros(2, dtype=[("a", "f8")])), "not plain numbers"),
        ("text", savez(b1=np.array(["1", "2"])), "b1 holds <U1 values"),
        ("complex", savez(b1=np.zeros(2, dtype=complex)), "b1 holds complex128"),
        (
            "1e10 floats",
            member("W1", _header_only((10**10,))),
            "W1 has shape (10000000000,)",
        ),
        (
            "short data",
            member("W1", _header_only((2, 2), b"\0" * 8)),
            "the file is damaged",
        ),
        (
            "long data",
            member("W1", _header_only((2, 2), b"\0" * 64)),
            "the file is damaged",
        ),
        ("bzip2", bzip2, "compressed in a way np.savez never uses"),
        (
            "inflates",
            deflated_big,
            "b2 takes 2097288 bytes, more than a (1,) array needs",
        ),
        ("too large", too_large, "larger than this network's weights can be"),
        ("marker", savez(**{MARKER[:-4]: np.array(7)}), "weights format 7"),
    ]


BAD_ARCHIVES = _bad_archives()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS")
@pytest.mark.parametrize(
    ("builder", "message"),
    [case[1:] for case in BAD_ARCHIVES],
    ids=[case[0] for case in BAD_ARCHIVES],
)
def test_bad_weights_files_are_refused_in_one_line(
    trainers: dict[str, Path],
    tmp_path: Path,
    builder: Callable[[Path], None],
    message: str,
) -> None:
    path = tmp_path / "bad.npz"
    builder(path)
    before = digest(path)
    for key in ("seed", "scalar"):
        r = subprocess.run(
            [sys.executable, str(trainers[key]), "--load", "bad.npz", "--epochs", "1"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
            preexec_fn=_limit_memory,
        )
        assert_refused(r, message)
        assert r.stderr.startswith(f"{key}.py: error: bad.npz: ")
    assert digest(path) == before


def test_weights_saved_by_numpy_itself_still_load(
    trainers: dict[str, Path], tmp_path: Path
) -> None:
    # no marker, float32, Fortran order, compressed: the values are what count
    W1 = np.asfortranarray(np.array([[0.5, -0.25], [1.0, 2.0]], dtype=np.float32))
    params = {**good_params(0.1), "W1": W1}
    np.savez_compressed(tmp_path / "np.npz", **params)
    np.savez(
        tmp_path / "ref.npz", **{k: np.asarray(v, float) for k, v in params.items()}
    )
    outs = [
        run(trainers["seed"], "--load", name, "--epochs", "1", cwd=tmp_path)
        for name in ("np.npz", "ref.npz")
    ]
    assert outs[0].returncode == 0, outs[0].stderr
    assert outs[0].stdout == outs[1].stdout


# --------------------------------------------------------------------------- --gradcheck


def test_gradcheck_fails_on_weights_that_overflow(
    trainers: dict[str, Path], tmp_path: Path
) -> None:
    np.savez(tmp_path / "huge.npz", **good_params(1e200))  # finite, but the loss is inf
    for key in ("seed", "scalar"):
        r = run(trainers[key], "--load", "huge.npz", "--gradcheck", cwd=tmp_path)
        assert r.returncode == 1, (r.stdout[-500:], r.stderr)
        assert "passed" not in r.stdout
        assert r.stdout.splitlines()[-1].startswith(
            "gradcheck FAILED: max rel. error inf"
        )
        assert r.stderr == ""  # no RuntimeWarning spilled


def test_gradcheck_fails_on_nan_weights_but_training_refuses_them(
    trainers: dict[str, Path], tmp_path: Path
) -> None:
    np.savez(tmp_path / "nan.npz", **{**good_params(), "b1": np.array([0.0, np.nan])})
    r = run(trainers["seed"], "--load", "nan.npz", "--gradcheck", cwd=tmp_path)
    assert (
        r.returncode == 1
        and "gradcheck FAILED" in r.stdout
        and "passed" not in r.stdout
    )
    assert "b1: its weights hold NaN or inf" in r.stdout
    r = run(trainers["seed"], "--load", "nan.npz", cwd=tmp_path)
    assert_refused(r, "b1 holds NaN or infinite values")


def test_gradcheck_counts_nan_where_it_does_not_sample(
    module: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    params, X, y = good_params(), np.ones((3, 2)), np.ones((3, 1))
    honest = module.gradients(params, X, y)
    assert (
        module.gradcheck(params, X, y, entries=0) == 0.0
    )  # nothing sampled, all finite
    broken = {**honest, "W2": np.array([[np.nan, 1.0]])}
    monkeypatch.setattr(module, "gradients", lambda *_: broken)
    assert module.gradcheck(params, X, y, entries=0) == np.inf
    monkeypatch.setattr(module, "gradients", lambda *_: honest)
    monkeypatch.setattr(module, "loss", lambda *_: float("nan"))
    assert module.gradcheck(params, X, y) == np.inf  # every difference quotient is NaN


# --------------------------------------------------------------------------- data and flags


def _csv(rows: np.ndarray) -> str:
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows)


def test_a_byte_order_mark_costs_no_row(
    trainers: dict[str, Path], tmp_path: Path
) -> None:
    rows = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -1.0], [-0.5, 1.0, 0.5]])
    (tmp_path / "plain.csv").write_text(_csv(rows), encoding="utf-8")
    (tmp_path / "bom.csv").write_text(_csv(rows), encoding="utf-8-sig")
    (tmp_path / "rest.csv").write_text(_csv(rows[1:]), encoding="utf-8")
    assert (tmp_path / "bom.csv").read_bytes().startswith(b"\xef\xbb\xbf0.5,")
    out = {
        name: run(
            trainers["seed"], "--data", f"{name}.csv", "--epochs", "2", cwd=tmp_path
        )
        for name in ("plain", "bom", "rest")
    }
    assert all(r.returncode == 0 for r in out.values()), out
    assert out["bom"].stdout == out["plain"].stdout
    assert (
        out["bom"].stdout != out["rest"].stdout
    )  # the first row is not taken as a header
    # a single data row behind a BOM is data, not a header row leaving "no data rows"
    (tmp_path / "one.csv").write_text(_csv(rows[:1]), encoding="utf-8-sig")
    r = run(trainers["seed"], "--data", "one.csv", "--epochs", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


BAD_FLAGS = [
    (["--seed", "-1"], "--seed must be a whole number >= 0; got --seed -1"),
    (["--seed", "1.5"], "argument --seed: invalid int value: '1.5'"),
    (["--epochs", "-3"], "got --epochs -3"),
    (["--epochs", "0"], "got --epochs 0"),
    (["--batch-size", "-1"], "got --batch-size -1"),
    (["--epochs", "abc"], "argument --epochs: invalid int value: 'abc'"),
    (["--lr", "nan"], "--lr must be a positive finite number; got --lr nan"),
    (["--lr", "inf"], "--lr must be a positive finite number; got --lr inf"),
    (["--lr", "1e999"], "got --lr inf"),
    (["--lr", "0"], "--lr must be a positive finite number"),
    (["--lr", "-0.1"], "--lr must be a positive finite number"),
    (["--log-every", "0"], "--log-every must be a whole number >= 1"),
    (["--log-every", "-2"], "--log-every must be a whole number >= 1"),
    (["--gradcheck", "--save", "w.npz"], "--gradcheck trains nothing for --save"),
    (["--force"], "--force only applies to --save"),
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["--epochs"], "argument --epochs: expected one argument"),
    (["--data", "missing.csv"], "missing.csv: cannot read it"),
    (["--data", "words.csv"], "row 2, column 2: 'two' is not a number"),
]


@pytest.mark.parametrize("key", ["seed", "nodata"])
@pytest.mark.parametrize(("argv", "message"), BAD_FLAGS)
def test_bad_flags_are_one_line_and_exit_2(
    trainers: dict[str, Path],
    tmp_path: Path,
    key: str,
    argv: list[str],
    message: str,
) -> None:
    (tmp_path / "words.csv").write_text("a,b,c\n1,two,3\n")
    r = run(trainers[key], *argv, cwd=tmp_path)
    assert_refused(r, message)
    assert r.stdout == ""
    assert sorted(os.listdir(tmp_path)) == ["words.csv"]  # nothing written


def test_any_seed_from_zero_up_is_accepted(
    trainers: dict[str, Path], tmp_path: Path
) -> None:
    runs = {
        seed: run(trainers["nodata"], "--seed", seed, "--epochs", "1", cwd=tmp_path)
        for seed in ("0", str(2**64), str(10**30))
    }
    assert all(r.returncode == 0 for r in runs.values()), runs
    assert len({r.stdout for r in runs.values()}) == 3  # the seed is used, all of it


def test_help_documents_the_exit_codes(
    trainers: dict[str, Path], tmp_path: Path
) -> None:
    r = run(trainers["seed"], "--help", cwd=tmp_path)
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert (
        "exit codes: 0 done (--gradcheck: passed), 1 --gradcheck failed, 2 bad input"
        in text
    )
    assert "130 interrupted" in text
    assert "--force" in text
