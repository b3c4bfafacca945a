"""The trainer's weights file: --save writes it atomically, --load reads it back within bounds.

A saved .npz holds the parameters and a marker entry (FORMAT_KEY), by which --save knows a
file it may replace. --load trusts nothing in the file: it reads no more bytes than this
network's parameters need, checks every .npy header before the data, never unpickles.
"""

from __future__ import annotations

import io
import os

import numpy as np

from ._trainer import DTYPE, PARAM_NAMES, init_params
from .data import DataError


def save_path(path: str, force: bool) -> str:
    """The .npz file --save writes (".npz" added when missing), checked before training.

    Refused (DataError): a missing or unwritable folder, a folder as the file, anything but a
    regular file, and unless `force`, a symbolic link or a file this trainer's --save did not
    write. Called again just before the write, in case the file changed meanwhile.
    """
    if not path:
        raise DataError("--save '' names no file; give one, e.g. --save weights.npz")
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise DataError(
            f"--save {path} is a folder; give a file name, e.g. --save "
            f"{os.path.join(path, 'weights.npz')}"
        )
    target = path if path.endswith(".npz") else path + ".npz"
    folder = os.path.dirname(target) or "."
    if not os.path.isdir(folder):
        state = "is not a folder" if os.path.lexists(folder) else "does not exist"
        raise DataError(
            f"--save {target}: {folder} {state}; create the folder first or save elsewhere"
        )
    if os.path.islink(target):
        if not force:
            raise DataError(
                f"--save {target} is a symbolic link, which --save does not follow; save "
                "elsewhere, or pass --force to replace the link itself"
            )
    elif os.path.isdir(target):
        raise DataError(f"--save {target} is a folder; give another file name")
    elif os.path.lexists(target):
        if not os.path.isfile(target):
            raise DataError(
                f"--save {target} exists and is not a regular file; save elsewhere"
            )
        if not force and not written_by_save(target):
            raise DataError(
                f"--save {target} exists and was not written by this trainer's --save; "
                "save elsewhere, or pass --force to replace it"
            )
    try:
        fd, temp = _create_temp(target)
    except OSError as exc:
        raise DataError(
            f"--save {target}: cannot write in the folder {folder} "
            f"({exc.strerror or exc}); save elsewhere"
        ) from None
    os.close(fd)
    os.unlink(temp)
    return target


def save_params(path: str, params: dict[str, np.ndarray], force: bool) -> str:
    """Write the weights to `path` (checked by save_path once more) atomically: into a
    temporary file in the same folder, then renamed over the target, so the target is either
    the old file or the complete new one, never half a file. Returns the path written.
    """
    target = save_path(path, force)
    arrays = {FORMAT_KEY: np.array(FORMAT_VERSION)}
    arrays.update((name, params[name]) for name in PARAM_NAMES)
    temp = None
    try:
        fd, temp = _create_temp(target)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())  # on disk before the rename makes it the file
        os.replace(temp, target)
    except OSError as exc:
        raise DataError(f"--save {target}: cannot write it ({exc})") from None
    finally:  # a failed or interrupted write leaves no temporary file behind
        if temp is not None and os.path.lexists(temp):
            os.unlink(temp)
    return target


def _create_temp(target: str) -> tuple[int, str]:
    """A new empty file next to `target` (same folder, so os.replace is a rename), opened
    for writing; O_EXCL never reuses or follows an existing name. The mode is what open()
    gives a new file (0o666 less the umask).
    """
    folder, name = os.path.split(target)
    temp = os.path.join(folder, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temp


def written_by_save(path: str) -> bool:
    """True when `path` is an .npz holding the marker entry (of any format version) that a
    generated trainer's --save writes: such a file --save may replace without --force.
    """
    try:
        return FORMAT_KEY in _read_arrays(path, {FORMAT_KEY: ()}, "iu", whole=False)
    except DataError:
        return False


def load_params(path: str) -> dict[str, np.ndarray]:
    """Weights saved by --save (an .npz with W1, b1, ...), checked against this network.

    An archive without the marker entry (e.g. written with np.savez) is read too, as long as
    it holds exactly this network's parameters, each with its shape, as plain numbers.
    """
    shapes = {name: value.shape for name, value in init_params(0).items()}
    arrays = _read_arrays(path, {**shapes, FORMAT_KEY: ()}, NUMBER_KINDS, whole=True)
    marker = arrays.pop(FORMAT_KEY, None)
    if marker is not None and int(marker) != FORMAT_VERSION:
        raise DataError(
            f"{path}: weights format {int(marker)}, but this trainer reads format "
            f"{FORMAT_VERSION}; save them again with this trainer"
        )
    # a fresh, writable C-order copy in the trainer's dtype: training updates it in place
    return {
        name: np.array(arrays[name], dtype=DTYPE, order="C") for name in PARAM_NAMES
    }


def _read_arrays(
    path: str, shapes: dict[str, tuple[int, ...]], kinds: str, whole: bool
) -> dict[str, np.ndarray]:
    """The arrays `shapes` names that the .npz at `path` holds, each checked to have its
    shape and a dtype of `kinds`, reading at most the bytes those arrays need.

    `whole`: the archive must hold exactly these arrays (FORMAT_KEY may be missing), and the
    file be no larger than they need; else the archive may hold other entries, unread.
    """
    import zipfile  # imported here, as NumPy does: only --save and --load need it
    import zlib

    problem = f"{path}: cannot read it as weights saved by --save"
    try:
        if not os.path.isfile(path):
            reason = "no such file" if not os.path.lexists(path) else "not a file"
            raise DataError(f"{problem} ({reason})")
        most = sum(_most_bytes(shape) + ZIP_BYTES for shape in shapes.values())
        if whole and os.path.getsize(path) > most:
            raise DataError(
                f"{problem}: at {os.path.getsize(path)} bytes it is larger than this "
                f"network's weights can be ({most} bytes at most)"
            )
        with open(path, "rb") as fh:
            if fh.read(6) == b"\x93NUMPY":
                raise DataError(
                    f"{problem}: it is a single .npy array, not the .npz archive that "
                    "--save writes"
                )
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            members = {info.filename: info for info in infos}
            if len(members) != len(infos):
                raise DataError(f"{problem}: an entry appears twice in the archive")
            if whole:
                _check_entries(path, list(members), shapes)
            arrays = {}
            for name, shape in shapes.items():
                info = members.get(name + ".npy")
                if info is None:  # the marker, in an archive not written by --save
                    continue
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise DataError(
                        f"{problem}: {name} is compressed in a way np.savez never uses"
                    )
                if info.file_size > _most_bytes(shape):
                    raise DataError(
                        f"{path}: {name} takes {info.file_size} bytes, more than a "
                        f"{shape} array needs"
                    )
                with archive.open(info) as member:
                    # bounded, whatever the archive says about its sizes
                    raw = member.read(_most_bytes(shape) + 1)
                arrays[name] = _parse_npy(raw, path, name, shape, kinds)
            return arrays
    except (
        OSError,
        EOFError,
        ValueError,
        RuntimeError,  # e.g. an encrypted member
        NotImplementedError,
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
    ) as exc:
        raise DataError(f"{problem} (an .npz file): {_first_line(exc)}") from None


def _most_bytes(shape: tuple[int, ...]) -> int:
    """The most bytes a .npy of this shape may take: the longest header, 8-byte numbers."""
    return HEADER_BYTES + 8 * int(np.prod(shape))


def _check_entries(
    path: str, entries: list[str], shapes: dict[str, tuple[int, ...]]
) -> None:
    """The archive's entries are this network's parameters (and the marker), no more, no less."""
    names = [entry.removesuffix(".npy") for entry in entries]
    for entry, name in zip(entries, names, strict=True):
        if name not in shapes or not entry.endswith(".npy"):
            raise DataError(
                f"{path}: holds {entry!r}, which is no parameter of this network "
                f"({', '.join(PARAM_NAMES)}); it was not saved from this network"
            )
    for name in PARAM_NAMES:
        if name not in names:
            raise DataError(
                f"{path}: has no {name}; it was not saved from this network"
            )


def _parse_npy(
    raw: bytes, path: str, name: str, shape: tuple[int, ...], kinds: str
) -> np.ndarray:
    """One .npy's bytes as a read-only array, after checking its header: the version, a
    plain dtype of `kinds` (never an object or record, so nothing is unpickled), the shape,
    and exactly as much data as the header says.
    """
    if len(raw) > _most_bytes(shape):
        raise DataError(f"{path}: {name} holds more data than a {shape} array needs")
    stream = io.BytesIO(raw)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        found, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        found, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise DataError(
            f"{path}: {name} is a .npy of version {version}, not 1.0 or 2.0"
        )
    if dtype.kind not in kinds or dtype.hasobject or dtype.itemsize > 8:
        raise DataError(
            f"{path}: {name} holds {dtype} values, not plain numbers (float or int)"
        )
    if found != shape:
        raise DataError(f"{path}: {name} has shape {found}, expected {shape}")
    data = raw[stream.tell() :]
    size = dtype.itemsize * int(np.prod(shape))
    if len(data) != size:
        raise DataError(
            f"{path}: {name} has {len(data)} bytes of data where its header says "
            f"{size}; the file is damaged"
        )
    return np.frombuffer(data, dtype=dtype).reshape(
        shape, order="F" if fortran else "C"
    )


def _first_line(exc: BaseException) -> str:
    """An exception's message, cut to its first line (NumPy's can run to several)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# the marker entry every --save archive holds, and its value (the archive's layout)
FORMAT_KEY = "generated-trainer-weights"
FORMAT_VERSION = 1
# the most bytes a .npy header may take (NumPy's own limit for loading safely), and what an
# archive entry may add to its .npy (the zip headers and its name)
HEADER_BYTES = 10_000
ZIP_BYTES = 4_096
# the dtype kinds a parameter may be stored as: float, signed or unsigned int (<= 8 bytes)
NUMBER_KINDS = "fiu"
