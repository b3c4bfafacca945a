"""check-code's loader: a kept statement never runs the student's code while it is defined,
syntax errors and unreadable files are one clear line (exit 2), and large files load in
linear time."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from symbackprop.check.code import load
from symbackprop.check.code.load import StudentFile, read_student_file
from symbackprop.errors import UserError

ROOT = Path(__file__).parent.parent
STUDENTS = Path(__file__).parent / "fixtures" / "students"
CORRECT = (STUDENTS / "correct.py").read_text(encoding="utf-8")
RAN = "the student's code ran while the file was loaded"
TRAIN = f"def train(*args, **kwargs):\n    raise RuntimeError({RAN!r})\n\n\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line containing `needle`."""
    return next(i for i, x in enumerate(text.splitlines(), 1) if needle in x)


def kept_lines(student: StudentFile) -> set[int]:
    """Every line of the file a kept statement spans."""
    return {
        s.line + i for s in student.statements for i in range(s.source.count("\n") + 1)
    }


def run_kept(student: StudentFile) -> list[str]:
    """Execute the kept statements as the child does (in order, each at its own lines) and
    return the errors; the files here are our own, and their payload only raises."""
    namespace: dict[str, object] = {"__name__": "student"}
    errors = []
    for s in student.statements:
        code = compile("\n" * (s.line - 1) + s.source, f"<student {s.chunk}>", "exec")
        try:
            exec(code, namespace)
        except Exception as exc:  # collected: the caller asserts on them
            errors.append(f"{type(exc).__name__}: {exc}")
    return errors


def cli(path: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m symbackprop check-code PATH` from the repository (this checkout's code)."""
    return subprocess.run(
        [sys.executable, "-m", "symbackprop", "check-code", str(path), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


# (name, the student's lines, the marker of each statement that must not be kept)
ATTACKS = [
    (
        "a lambda in a whitelisted call",
        "lr = max([0.05], key=lambda v: train())  # attack\n",
    ),
    ("a student function as key=", "xs = [1, 2]\nlr = max(xs, key=train)  # attack\n"),
    ("a student function as an argument", "lr = max(train, 1)  # attack\n"),
    (
        "a rebound builtin",
        "def float(x):\n    return train()\n\n\nlr = float(1)  # attack\n",
    ),
    (
        "a class named np",
        "class np:\n    zeros = train\n\n\nW1 = np.zeros((2, 2))  # attack\n",
    ),
    ("import os as np", "import os as np\n\nW1 = np.getcwd()  # attack\n"),
    (
        "np rebound by a for loop",
        "for np in [train]:\n    pass\nW1 = np.zeros(2)  # attack\n",
    ),
    (
        "__class_getitem__",
        "class A:\n    def __class_getitem__(cls, key):\n        return train()\n\n\n"
        "lr = A[0]  # attack\nlr2 = [A][0][0]  # attack\n",
    ),
    (
        "a method of a student class",
        "class A:\n    def reshape(*args):\n        return train()\n\n    def keys():\n"
        "        return train()\n\n    def __array__(*args):\n        return train()\n\n\n"
        "lr = A.reshape(1)  # attack\nd = dict(A)  # attack\n"
        "W1 = np.array(A)  # attack\n",
    ),
    (
        "annotations",
        "def f(x: train()) -> train():  # attack\n    return x\n\n\n"
        "x: train() = 5  # attack\n",
    ),
    (
        "a method's default value",
        "class A:  # attack\n    def f(self, x=train()):\n        return x\n",
    ),
    (
        "a method's annotation",
        "class A:  # attack\n    def f(self, x: train()):\n        return x\n",
    ),
    (
        "__init_subclass__ of a base class",
        "class Base:\n    def __init_subclass__(cls):\n        train()\n\n\n"
        "class Child(Base):  # attack\n    pass\n",
    ),
    (
        "a library base class",
        "import enum\n\n\nclass Colour(enum.Enum):  # attack\n"
        "    def __new__(cls, value):\n        return train()\n\n    RED = 1\n",
    ),
    ("a metaclass", "class A(metaclass=train):  # attack\n    pass\n"),
    ("a lambda's default value", "f = lambda x=train(): x  # attack\n"),
    (
        "a default read off a student's class",
        "class A:\n    b = 1\n\n\ndef f(x=A.b):  # attack\n    return x\n",
    ),
    (
        "a package's private attribute as a default",
        "import enum\n\n\ndef f(x=enum._EnumDict):  # attack\n    return x\n",
    ),
    (
        "a package's function called in a default",
        "import os\n\n\ndef f(x=os.getcwd()):  # attack\n    return x\n",
    ),
    ("a walrus", "lr = (f := train)  # attack\n"),
    ("__builtins__", "__builtins__ = {'float': train}  # attack\nlr = float(1)\n"),
]


@pytest.mark.parametrize(("name", "attack"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack_is_dropped_and_never_runs(
    tmp_path: Path, name: str, attack: str
) -> None:
    """Each attack statement is dropped (listed with its line) and, running what is kept as
    the child does, the student's `train` is never called."""
    text = "import numpy as np\n\n\n" + TRAIN + attack
    student = read_student_file(write(tmp_path, "hw.py", text))
    attack_lines = [
        i for i, x in enumerate(text.splitlines(), 1) if x.endswith("# attack")
    ]
    assert attack_lines
    for line in attack_lines:
        assert line not in kept_lines(student), (name, line)
        assert any(d.endswith(f"(hw.py:{line})") for d in student.dropped), (
            name,
            student.dropped,
        )
    assert not [e for e in run_kept(student) if RAN in e]


def test_unsafe_decorators_are_blanked_not_run(tmp_path: Path) -> None:
    """A decorator that is not staticmethod/classmethod/property is blanked, on a function
    or a method, keeping the lines; the def itself is kept and its decorator listed."""
    text = (
        "import numpy as np\n\n\n"
        + TRAIN
        + "@train\ndef forward(x):\n    return x\n\n\n"
        "class Model:\n    @train\n    def step(self):\n        return 1\n\n"
        "    @staticmethod\n    def relu(z):\n        return np.maximum(0, z)\n"
    )
    student = read_student_file(write(tmp_path, "hw.py", text))
    forward = next(s for s in student.statements if "def forward" in s.source)
    assert forward.line == line_of(text, "def forward") and "@" not in forward.source
    model = next(s for s in student.statements if s.source.startswith("class Model"))
    assert "@train" not in model.source and "@staticmethod" in model.source
    assert model.source.count("\n") == text.count("\n", text.index("class Model")) - 1
    assert f"decorators of forward (hw.py:{line_of(text, 'def forward')})" in (
        student.dropped
    )
    assert f"decorators of Model.step (hw.py:{line_of(text, 'class Model')})" in (
        student.dropped
    )
    assert run_kept(student) == []
    assert "forward" in student.functions


def test_coursework_statements_are_kept_and_define_what_they_say(
    tmp_path: Path,
) -> None:
    """What real coursework writes at top level is still kept, and runs to the values the
    checker reads (shapes of the initial arrays, a lambda, classes, typed defs)."""
    text = '''import numpy as np
from typing import Optional

np.random.seed(1)
W1 = np.random.randn(2, 3) * 0.01
X = np.array([[1.0, -2.0], [3.0, 4.0]])
y = np.array([1.0, 2.0])
y = y.reshape(-1, 1)
n = X.shape[0]
lr = 0.05
layers = [2, 4, 1]
relu = lambda z: np.maximum(0, z)
activations = {"relu": relu, "identity": lambda z: z}
params = {"W1": W1, "n": n}
rng = np.random.default_rng(0)
W2 = rng.normal(0, 1, size=(2, 3))
shapes = [(a, b) for a, b in zip(layers, layers[1:])] if False else [(2, 4)]
name = f"W{n}"


def forward(X: np.ndarray, params: dict[str, np.ndarray], act=relu) -> np.ndarray:
    return act(X)


def helper(x: Optional[np.ndarray] = None) -> "np.ndarray":
    return x


def typed(x, dtype=np.float64, rng=np.random.default_rng):
    return x


class Layer:
    """A layer."""

    size: int = 3

    def __init__(self, n=2):
        self.n = n

    @staticmethod
    def relu(z):
        return np.maximum(0, z)

    @property
    def value(self):
        return self.n

    @value.setter
    def value(self, v):
        self.n = v


class Dense(Layer):
    pass


for epoch in range(10):
    W1 -= lr * W1
print("done")
'''
    student = read_student_file(write(tmp_path, "hw.py", text))
    kept = kept_lines(student)
    for needle in (
        "np.random.seed(1)",
        "W1 = np.random.randn",
        "y = y.reshape",
        "relu = lambda",
        "activations = {",
        "W2 = rng.normal",
        'name = f"W{n}"',
        "def forward",
        "def helper",
        "def typed",
        "class Layer",
        "@value.setter",
        "class Dense",
    ):
        assert line_of(text, needle) in kept, needle
    dropped = {line_of(text, x) for x in ("shapes = ", "for epoch", 'print("done")')}
    assert not dropped & kept
    assert run_kept(student) == []
    namespace: dict[str, object] = {"__name__": "student"}
    for s in student.statements:
        exec(compile("\n" * (s.line - 1) + s.source, "<student 0>", "exec"), namespace)
    shapes = {k: v.shape for k, v in namespace.items() if isinstance(v, np.ndarray)}
    assert shapes["W1"] == (2, 3) and shapes["y"] == (2, 1) and shapes["X"] == (2, 2)
    assert set(student.functions) == {"forward", "helper", "typed"}


def test_a_correct_file_with_every_attack_is_still_judged(tmp_path: Path) -> None:
    """End to end: correct.py plus every attack, whose payload kills the check process with
    os._exit(3) if it runs while loading, is judged correct (exit 0), not an error."""
    payload = "def train(*args, **kwargs):\n    __import__('os')._exit(3)\n\n\n"
    # the attacks that rebind np do it to a name of their own, as the file needs numpy
    attacks = re.sub(r"\bnp\b", "npx", "\n\n".join(a for _, a in ATTACKS))
    text = CORRECT.replace("import numpy as np\n", "import numpy as np\n" + payload)
    path = write(tmp_path, "hw.py", text + "\n\n" + attacks)
    r = cli(path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verdict: everything matches the derivation" in r.stdout


def test_a_deep_but_valid_expression_is_checked_without_recursion(
    tmp_path: Path,
) -> None:
    """`ast.parse` accepts a sum of 2000 terms; the safety check is iterative, so it is kept
    (the recursive check raised RecursionError: exit 4)."""
    text = CORRECT + "\nlr = " + " + ".join(["0.0"] * 2000) + "\n"
    student = read_student_file(write(tmp_path, "hw.py", text))
    assert any(s.source.startswith("lr = 0.0 + ") for s in student.statements)


def assert_exit_2(path: Path, needle: str) -> None:
    """The CLI says one line naming the problem and exits 2, with no traceback."""
    r = cli(path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr and needle in r.stderr, r.stderr


def test_a_syntax_error_in_the_last_line_of_a_py_is_an_error(tmp_path: Path) -> None:
    """A .py is the whole text or nothing: no silently shorter prefix is judged."""
    text = CORRECT + "print('done'\n"
    path = write(tmp_path, "hw.py", text)
    with pytest.raises(UserError) as exc:
        read_student_file(path)
    line = len(text.splitlines())
    assert exc.value.exit_code == 2
    assert exc.value.message == (
        f"cannot read the file: hw.py:{line}: SyntaxError: '(' was never closed"
    )
    assert_exit_2(path, f"hw.py:{line}: SyntaxError")


@pytest.mark.parametrize(
    ("name", "tail", "needle"),
    [
        ("sum", "x = " + "+".join(["1"] * 100_000), "nested too deeply"),
        ("not", "x = " + "not " * 100_000 + "1", "nested too deeply"),
        ("parentheses", "x = " + "(" * 1000 + "1" + ")" * 1000, "nested parentheses"),
        ("digits", "x = " + "1" * 100_000, "integer string conversion"),
        ("garbage line", "x = " + "1 2 " * 500_000, "SyntaxError: invalid syntax"),
    ],
)
def test_unreadable_python_is_one_line_exit_2(
    tmp_path: Path, name: str, tail: str, needle: str
) -> None:
    """Deep nesting, a 100,000-digit literal or a huge broken line: exit 2, one line."""
    assert_exit_2(write(tmp_path, "hw.py", CORRECT + tail + "\n"), needle)


def test_a_nul_byte_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "hw.py"
    path.write_bytes(CORRECT.encode().replace(b"import numpy", b"\x00import numpy"))
    assert_exit_2(path, "hw.py:2: a NUL byte")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ('{"cells": [], "n": ' + "1" * 100_000 + "}", "not a valid .ipynb"),
        ('{"worksheets": [1]}', "not a Jupyter notebook"),
    ],
    ids=["deep JSON", "huge integer", "bad worksheets"],
)
def test_a_broken_ipynb_is_one_line_exit_2(
    tmp_path: Path, text: str, needle: str
) -> None:
    assert_exit_2(write(tmp_path, "hw.ipynb", text), needle)


def notebook(*sources: str) -> str:
    cells = [
        {"cell_type": "code", "execution_count": i, "metadata": {}, "outputs": []}
        | {"source": s}
        for i, s in enumerate(sources, 1)
    ]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4})


def test_an_unreadable_notebook_cell_is_skipped_not_fatal(tmp_path: Path) -> None:
    """In a notebook, a cell too deep to parse or with a huge literal is a syntax_errors
    entry and the other cells still load."""
    text = notebook(
        CORRECT.split("for epoch")[0],
        "x = " + "+".join(["1"] * 100_000),
        "y = " + "1" * 100_000,
    )
    student = read_student_file(write(tmp_path, "hw.ipynb", text))
    assert {"forward", "backward"} <= set(student.functions)
    assert len(student.syntax_errors) == 2
    assert (
        "cell 2 (In [2]), line 1: the code is nested too deeply"
        in (student.syntax_errors[0])
    )
    assert "cell 3 (In [3]), line 1: SyntaxError: Exceeds" in student.syntax_errors[1]


def test_a_cells_broken_last_line_is_listed_not_silent(tmp_path: Path) -> None:
    """A notebook cell holds no printed output, so a last line that does not parse and is
    cut off is listed in `dropped`."""
    text = notebook("import numpy as np\nlr = 0.05\nprint 'done'")
    student = read_student_file(write(tmp_path, "hw.ipynb", text))
    assert [s.source for s in student.statements] == ["import numpy as np", "lr = 0.05"]
    assert (
        "text after the code that does not parse (hw.ipynb, cell 1 (In [1]), line 3)"
        in (student.dropped)
    )


def test_printed_output_is_dropped_in_a_few_parses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A text export's cell with 5000 lines of printed output after its code takes a few
    parse attempts (one per line before: quadratic in the size of the output)."""
    output = "\n".join(f"Epoch {i}: loss {1 / (i + 1):.4f}" for i in range(5000))
    text = "In [1]:\nimport numpy as np\nlr = 0.05\nfor i in range(2):\n    print(i)\n"
    path = write(tmp_path, "hw.txt", text + output + "\n")
    calls: list[int] = []
    parse = load._parse

    def counting(source: str) -> ast.Module:
        calls.append(len(source))
        return parse(source)

    monkeypatch.setattr(load, "_parse", counting)
    student = read_student_file(path)
    assert [s.source for s in student.statements] == ["import numpy as np", "lr = 0.05"]
    assert "for loop (hw.txt:4)" in student.dropped
    assert len(calls) <= 3


def test_many_statements_load_in_linear_time(tmp_path: Path) -> None:
    """300 KB of definitions, arrays and prints: the source text of each statement is cut
    from its own lines (ast.get_source_segment re-split the whole file each time, about two
    minutes here); generous bound for a loaded machine."""
    block = (
        "def helper_{i}(a, b=0.5):\n    return np.maximum(a * b + {i}, 0)\n\n\n"
        "W_{i} = np.array([[0.1, -0.2], [0.3, 0.4]]) * 0.01\nprint('epoch', {i})\n\n\n"
    )
    text = CORRECT + "".join(block.format(i=i) for i in range(3000))
    start = time.process_time()
    student = read_student_file(write(tmp_path, "hw.py", text))
    seconds = time.process_time() - start
    assert len(student.statements) == 11 + 2 * 3000
    assert (
        student.statements[-1].source
        == "W_2999 = np.array([[0.1, -0.2], [0.3, 0.4]]) * 0.01"
    )
    assert seconds < 15, seconds


def test_a_notebook_whose_every_cell_has_a_syntax_error_says_so(tmp_path: Path) -> None:
    cell = {
        "cell_type": "code",
        "source": ["import numpy as np\n", "def forward(X:\n", "    return X\n"],
        "metadata": {},
        "outputs": [],
        "execution_count": 1,
    }
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = write(tmp_path, "hw.ipynb", json.dumps(notebook))
    done = cli(path)
    assert done.returncode == 2 and done.stdout == ""
    line = done.stderr.strip()
    assert "\n" not in line and "1 cell has a syntax error" in line
    assert "line 2: SyntaxError: '(' was never closed" in line
