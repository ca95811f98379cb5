"""Reading the shell of a Dockerfile's RUN steps: which simple commands create or update the
environment (`conda create -p PREFIX …`, `conda env update …`) and which install into it with
pip (`conda run -p PREFIX pip install`, an interpreter in the prefix, a plain `pip` once the
environment is first on PATH). Used by lift.py."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

CONDA_TOOLS = ("conda", "mamba", "micromamba")


def commands(shell: str) -> Iterator[list[str]]:
    """The simple commands of a shell line, as words (split at `&&`, `||`, `;`, `|`)."""
    lexer = shlex.shlex(shell, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    words: list[str] = []
    try:
        for token in lexer:
            if token in ("&&", "||", ";", "|", "&"):
                if words:
                    yield words
                words = []
            else:
                words.append(token)
    except ValueError:  # unbalanced quotes: not a line to lift
        return
    if words:
        yield words


def strip_assignments(words: list[str]) -> list[str]:
    """`MAX_JOBS=4 pip install …` -> `pip install …`."""
    index = 0
    while index < len(words) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[index]):
        index += 1
    return words[index:]


def _targets_prefix(words: list[str], prefixes: set[str]) -> bool:
    for flag in ("-p", "--prefix"):
        if flag in words[:-1] and words[words.index(flag) + 1].rstrip("/") in prefixes:
            return True
    return any(w.startswith("--prefix=") and w.split("=", 1)[1] in prefixes for w in words)


def creates(words: list[str], prefixes: set[str]) -> bool:
    words = strip_assignments(words)
    if len(words) < 2 or words[0] not in CONDA_TOOLS:
        return False
    action = words[1:3] if words[1] == "env" else words[1:2]
    return action in (["create"], ["env", "create"]) and _targets_prefix(words, prefixes)


def pip_words(words: list[str], prefixes: set[str], plain_is_env: bool) -> list[str] | None:
    """The arguments after `pip install` when `words` install into the environment: through
    `conda run -p PREFIX`, an interpreter or pip inside the prefix, or a plain `pip`/`python`
    when the environment is first on PATH (`plain_is_env`)."""
    words = strip_assignments(words)
    runner = False
    if len(words) > 3 and words[0] in CONDA_TOOLS and words[1] == "run":
        if not _targets_prefix(words[:4], prefixes):
            return None  # another environment of the image (`conda run -n base`)
        runner, words = True, words[4:]
    program = words[0] if words else ""
    interpreter = re.fullmatch(r"(?:.*/)?python(?:3(?:\.\d+)?)?", program) is not None
    if interpreter and words[1:3] == ["-m", "pip"]:
        rest = words[3:]
    elif re.fullmatch(r"(?:.*/)?pip3?", program):
        rest = words[1:]
    else:
        return None
    if rest[:1] != ["install"]:
        return None
    if "/" in program:  # an absolute interpreter or pip: ours only when it is in the prefix
        ours = any(program.startswith(f"{prefix}/") for prefix in prefixes)
    else:
        ours = runner or plain_is_env
    return rest[1:] if ours else None


def installs(words: list[str], prefixes: set[str]) -> bool:
    """`conda|mamba|micromamba install` into the environment (by its prefix)."""
    return (
        len(words) > 2
        and words[0] in CONDA_TOOLS
        and words[1] == "install"
        and _targets_prefix(words, prefixes)
    )


def updates(words: list[str], prefixes: set[str]) -> bool:
    return (
        len(words) > 2
        and words[0] in CONDA_TOOLS
        and words[1:3] == ["env", "update"]
        and (_targets_prefix(words, prefixes) or "-n" not in words)
    )
