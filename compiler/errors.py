"""Problems as values (Diagnostic) and the one exception root the CLI turns into exit codes."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool whose reader left


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """One problem in one input file; lines and columns are 1-based (1:1 for the whole file)."""

    path: str
    line: int
    col: int
    message: str
    rule: str
    json_path: str = "$"
    severity: str = "error"

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "severity": self.severity,
            "message": self.message,
            "rule": self.rule,
            "json_path": self.json_path,
        }


class EnvcError(Exception):
    """A failure with a message for the user; the CLI prints it and exits with `exit_code`."""

    exit_code = EXIT_FINDINGS


class UsageError(EnvcError):
    """Bad arguments, or a machine/repository set-up that envc cannot work in."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A repository setting that envc cannot work with; the message is one
    `path:line:col: error: …` line per problem, printed as it is."""


def close_matches(word: str, options: list[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The `options` most like `word`, best first, for a "did you mean" hint (difflib's choice;
    imported here, when a message needs one: not on the path of a valid manifest)."""
    import difflib

    return difflib.get_close_matches(word, options, n=n, cutoff=cutoff)
