"""One exception type for everything a user can get wrong, and the exit codes the CLI documents."""

from __future__ import annotations

EXIT_OK = 0  # success; for the checkers: everything is correct
EXIT_FAILED = 1  # a check found a mistake, or LaTeX reported an error
EXIT_USAGE = 2  # bad input: spec, flags, a file that cannot be read or bound
EXIT_NO_TEX = 3  # no TeX distribution on PATH: the .tex was written, the PDF was not


class UserError(Exception):
    """A problem with the user's input: shown as one line, never as a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class DerivationError(UserError):
    """The vectorized form disagrees with SymPy's closed form: a bug in symbackprop."""

    def __init__(self, message: str) -> None:
        super().__init__(
            f"internal check failed: {message}; please report this", exit_code=4
        )
