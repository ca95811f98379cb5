"""Lift an environment out of a Dockerfile: what builds the conda environment (`conda create`,
`conda env create/update -f`, `mamba`/`micromamba`, and the `pip install`s into it) becomes the
manifest's `python`, `channels`, `conda` and `pip`, which envc locks; everything else (apt-get,
patches to the base image's own Python, downloads, `COPY` of other files) stays in a base
Dockerfile that the locked environment is installed on top of.

Read with BuildKit's parser (the `dockerfile` package) and shell words with `shlex`. A
Dockerfile that creates no environment of its own (it installs into its base image's Python) is
not lifted: the caller keeps it whole, with user-managed dependencies. Every instruction that is
lifted, left or changed is reported with its line.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.interop.common import PipOptions, conda_spec, pip_requirement
from compiler.interop.shell_steps import (
    commands,
    creates,
    installs,
    pip_words,
    strip_assignments,
    updates,
)
from compiler.manifest.patterns import spec_package

# Where envc's image templates create the environment (templates/Dockerfile.conda.j2).
ENVIRONMENT_PREFIX = "/opt/env"
# How azureml-assets Dockerfiles name the environment they create.
_PREFIX_VARIABLES = ("CONDA_PREFIX", "AZUREML_CONDA_ENVIRONMENT_PATH")
_HOUSEKEEPING = {"rm", "conda clean", "mamba clean", "micromamba clean", "pip cache"}
# `{{latest-image-tag}}` or `{{latest-image-tag:<regex>}}` (the regex may hold braces: \d{6}).
IMAGE_TAG_PLACEHOLDER = re.compile(r":\{\{latest-image-tag(?::(.*?))?\}\}")
# pip options that take a value, and what a manifest does with them.
_PIP_VALUE_OPTIONS = {
    "-r": "requirement",
    "--requirement": "requirement",
    "-c": "constraint",
    "--constraint": "constraint",
    "-i": "index",
    "--index-url": "index",
    "--extra-index-url": "index",
    "-f": "index",
    "--find-links": "index",
    "--trusted-host": "ignored",
    "--target": "target",
    "-t": "target",
    "--prefix": "target",
    "--root": "target",
}


class _Unreadable(Exception):
    """A file a step reads that envc will not read (outside the context, a link, missing): the
    step stays in the base stage."""


def _context_file(context: Path, name: str) -> Path:
    """`name` as a step names it, inside the asset's context (confined: no absolute path, no
    `..`, no symbolic link, a regular file)."""
    from compiler.validate.references import resolve_reference

    target, problem = resolve_reference(context, context, name)
    if target is None:
        raise _Unreadable(f"{problem} (in the context folder)")
    return target


@dataclass
class Lifted:
    python: str | None = None
    channels: list[str] = field(default_factory=list)
    conda: list[str] = field(default_factory=list)
    pip: list[str] = field(default_factory=list)
    # the indexes of its `pip install`s: the manifest's pip_indexes
    pip_options: PipOptions = field(default_factory=PipOptions)
    variables: dict[str, str] = field(default_factory=dict)
    base_dockerfile: str = ""  # what is left: the base stage(s)
    base_image: str | None = None  # the last FROM, when nothing but it is left
    report: list[str] = field(default_factory=list)  # `Dockerfile:12: lifted: …`, line by line
    notes: list[str] = field(default_factory=list)
    files_used: set[str] = field(default_factory=set)  # context files only lifted steps read


def lift_dockerfile(text: str, context: Path, name: str = "Dockerfile") -> Lifted | None:
    """The environment `text` (the Dockerfile in `context`) creates, lifted; None when it
    creates none of its own."""
    import dockerfile

    try:
        instructions = dockerfile.parse_string(text)
    except dockerfile.GoParseError:
        return None
    prefixes = _prefixes(instructions)
    # A plain `pip` is the environment's when the environment is first on PATH: set so by the
    # Dockerfile, or by Azure ML's base images for $AZUREML_CONDA_ENVIRONMENT_PATH.
    plain_is_env = "AZUREML_CONDA_ENVIRONMENT_PATH" in text or any(
        i.cmd.upper() == "ENV"
        and any(
            key == "PATH" and any(value.startswith(p) for p in prefixes)
            for key, value in zip(i.value[0::2], i.value[1::2], strict=False)
        )
        for i in instructions
    )
    creating = [
        i
        for i in instructions
        if i.cmd.upper() == "RUN" and any(creates(words, prefixes) for words in commands(_shell(i)))
    ]
    if not creating:
        return None
    lifted = Lifted()
    lines = text.split("\n")
    kept: dict[int, str | None] = {}  # first line -> replacement text (None: removed)
    first_run = creating[0].start_line
    for instruction in instructions:
        where = f"{name}:{instruction.start_line}"
        command = instruction.cmd.upper()
        if command == "FROM":
            kept[instruction.start_line] = _from(instruction, lines, lifted, where)
        elif command == "ENV":
            kept[instruction.start_line] = _env(instruction, prefixes, lifted, where)
        elif command == "RUN" and instruction.start_line >= first_run:
            kept[instruction.start_line] = _run(
                instruction, prefixes, plain_is_env, context, lifted, where
            )
    # COPY of a file that only lifted steps read goes too (conda_dependencies.yaml …).
    for instruction in instructions:
        if instruction.cmd.upper() == "COPY" and not instruction.flags:
            sources = list(instruction.value[:-1])
            if sources and all(source in lifted.files_used for source in sources):
                kept[instruction.start_line] = None
                lifted.report.append(
                    f"{name}:{instruction.start_line}: lifted: COPY {' '.join(sources)} "
                    "(read by the lifted steps only)"
                )
    lifted.base_dockerfile = _rewrite(lines, instructions, kept)
    remaining = [i for i in instructions if kept.get(i.start_line, "") is not None]
    if all(i.cmd.upper() == "FROM" for i in remaining) and len(remaining) == 1:
        lifted.base_image = remaining[0].value[0]
    lifted.pip = _last_spec_wins(lifted.pip)
    lifted.conda = _last_spec_wins(lifted.conda)
    return lifted


def _shell(instruction: Any) -> str:
    """The shell command of a RUN (exec form joined)."""
    return " ".join(instruction.value)


def _prefixes(instructions: Any) -> set[str]:
    """The words that name the environment's prefix: `$CONDA_PREFIX` and the path it is set
    to, `$AZUREML_CONDA_ENVIRONMENT_PATH` (set by Azure ML's base images)."""
    found = set()
    for variable in _PREFIX_VARIABLES:
        found |= {f"${variable}", f"${{{variable}}}"}
    for instruction in instructions:
        if instruction.cmd.upper() == "ENV":
            pairs = dict(zip(instruction.value[0::2], instruction.value[1::2], strict=False))
            if pairs.get("CONDA_PREFIX", "").startswith("/"):
                found.add(pairs["CONDA_PREFIX"].rstrip("/"))
    return found


def _run(
    instruction: Any,
    prefixes: set[str],
    plain_is_env: bool,
    context: Path,
    lifted: Lifted,
    where: str,
) -> str | None:
    """What stays of a RUN (None: nothing), lifting what builds the environment."""
    left: list[list[str]] = []
    took = False
    for words in commands(_shell(instruction)):
        bare = strip_assignments(words)
        try:
            if creates(words, prefixes) or updates(bare, prefixes) or installs(bare, prefixes):
                _conda(bare, context, lifted, where)
                took = True
                continue
            if (arguments := pip_words(words, prefixes, plain_is_env)) is not None:
                _pip(arguments, context, lifted, where)
                took = True
                continue
        except _Unreadable as exc:
            lifted.notes.append(f"{where}: `{shlex.join(words)}` is left as it is: {exc}")
            left.append(words)
            continue
        if took and any(" ".join(bare).startswith(h) for h in _HOUSEKEEPING):
            continue  # cleaning up after a lifted step
        left.append(words)
    for words in left:
        if any(prefix in word for word in words for prefix in prefixes):
            lifted.notes.append(
                f"{where}: `{shlex.join(words)}` uses the environment but is left in the base "
                "stage, which runs before envc creates it: review it"
            )
    if not took:
        return ""  # unchanged
    if not left:
        lifted.report.append(f"{where}: lifted: RUN")
        return None
    kept = " && ".join(shlex.join(words) for words in left)
    lifted.report.append(f"{where}: partly lifted; left: {kept}")
    return f"RUN {kept}"


def _conda(words: list[str], context: Path, lifted: Lifted, where: str) -> None:
    """`conda create|install -p P [-c CH] SPECS [--file SPEC_LIST]` or `conda env
    create|update -p P -f FILE` (an environment file)."""
    from compiler.interop.conda import import_conda_environment, import_conda_specs

    environment_file = words[1] == "env"
    specs, index = [], 3 if environment_file else 2
    while index < len(words):
        word = words[index]
        if word in ("-c", "--channel") and index + 1 < len(words):
            _add(lifted.channels, words[index + 1])
            index += 2
            continue
        if word.startswith("--prefix="):
            index += 1
            continue
        if word.startswith("--file="):
            word, words = "--file", [*words[:index], "--file", word[7:], *words[index + 1 :]]
        if word in ("-f", "--file") and index + 1 < len(words):
            file = words[index + 1]
            read = import_conda_environment if environment_file else import_conda_specs
            imported = read(_context_file(context, file))
            lifted.files_used.add(file)
            manifest = imported.manifest
            lifted.python = manifest.get("python") or lifted.python
            for channel in manifest.get("channels", []):
                _add(lifted.channels, channel)
            lifted.conda += manifest.get("conda", [])
            lifted.pip += manifest.get("pip", [])
            lifted.pip_options.extra += manifest.get("pip_indexes", [])
            lifted.notes += [f"{file}: {note}" for note in imported.notes]
            index += 2
            continue
        if word in ("-p", "--prefix", "-n", "--name"):
            index += 2
            continue
        if not word.startswith("-"):
            specs.append(word)
        index += 1
    for spec in specs:
        channel, _, bare = spec.rpartition("::")
        if channel:
            _add(lifted.channels, channel)
        match = re.match(r"^python\s*(?:={1,2})?\s*(3\.\d{1,2}(?:\.\d{1,3})?)(?:\.\*)?$", bare)
        if match:
            lifted.python = match.group(1)
        else:
            lifted.conda.append(conda_spec(_conda_spec(bare), lifted.notes))
    lifted.report.append(f"{where}: lifted: {' '.join(words[:3])} -> python, channels, conda")


def _conda_spec(spec: str) -> str:
    """`pandas~=1.5.3` (conda's fuzzy form in a shell word) as a MatchSpec: `pandas ~=1.5.3`."""
    return re.sub(r"^([A-Za-z0-9_.-]+)\s*(?=[<>=!~])", r"\1 ", spec, count=1)


def _pip(arguments: list[str], context: Path, lifted: Lifted, where: str) -> None:
    from compiler.interop.requirements import import_requirements

    index = 0
    specs: list[str] = []
    while index < len(arguments):
        word = arguments[index]
        option, _, inline = word.partition("=")
        kind = _PIP_VALUE_OPTIONS.get(option if word.startswith("--") else word)
        if kind is not None:
            value = inline or (arguments[index + 1] if index + 1 < len(arguments) else "")
            index += 1 if inline else 2
            if kind == "requirement":
                imported = import_requirements(_context_file(context, value))
                lifted.files_used.add(value)
                specs += imported.manifest.get("pip", [])
                lifted.pip_options.extra += imported.manifest.get("pip_indexes", [])
                lifted.notes += [n for n in imported.notes if "which Python" not in n]
            elif kind == "index" and option in ("-f", "--find-links"):
                lifted.notes.append(
                    f"{where}: pip {option} {value} is not carried: put wheel folders in "
                    "envc.yaml (pip.find_links)"
                )
            elif kind == "index":  # (for every package of the environment, not this step's)
                instead = option != "--extra-index-url"
                lifted.pip_options.index(value, f"{where}: ", lifted.notes, instead_of_pypi=instead)
            elif kind in ("constraint", "target"):
                lifted.notes.append(f"{where}: pip {option} {value} is not carried")
            continue
        if word.startswith("-"):
            if word in ("--no-deps", "--pre", "--no-build-isolation"):
                lifted.notes.append(f"{where}: pip {word} is not carried (the lock resolves all)")
        elif (carried := pip_requirement(word, lifted.notes)) is not None:
            specs.append(carried)
        index += 1
    lifted.pip += specs
    lifted.report.append(f"{where}: lifted: pip install -> pip ({len(specs)} requirements)")


def _from(instruction: Any, lines: list[str], lifted: Lifted, where: str) -> str:
    """A FROM with azureml-assets' `{{latest-image-tag…}}` gets `latest` (noted)."""
    original = "\n".join(lines[instruction.start_line - 1 : instruction.end_line])
    match = IMAGE_TAG_PLACEHOLDER.search(original)
    if match is None:
        return ""
    pattern = match.group(1)
    lifted.notes.append(
        f"{where}: the tag placeholder {match.group(0)[1:]} is resolved at release time; "
        f"`latest` here: pin a tag{f' matching {pattern}' if pattern else ''} or a digest"
    )
    lifted.report.append(f"{where}: changed: {{{{latest-image-tag}}}} -> latest")
    return IMAGE_TAG_PLACEHOLDER.sub(":latest", original)


def _env(instruction: Any, prefixes: set[str], lifted: Lifted, where: str) -> str | None:
    """ENV: plain values become the manifest's variables; the environment's prefix becomes
    envc's (so `PATH=$CONDA_PREFIX/bin:$PATH` still finds it); the rest stays."""
    pairs = list(zip(instruction.value[0::2], instruction.value[1::2], strict=False))
    left = []
    for key, value in pairs:
        if key in _PREFIX_VARIABLES:
            left.append((key, ENVIRONMENT_PREFIX))
            lifted.report.append(f"{where}: changed: {key} -> {ENVIRONMENT_PREFIX} (envc's)")
        elif "$" in value or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            left.append((key, value))  # expands at build time, or no shell variable name
        else:
            lifted.variables[key] = value
            lifted.report.append(f"{where}: lifted: ENV {key} -> variables")
    if not left:
        return None
    if left == pairs:
        return ""
    return "ENV " + " ".join(f"{k}={shlex.quote(v)}" for k, v in left)


def _rewrite(lines: list[str], instructions: Any, kept: dict[int, str | None]) -> str:
    """The Dockerfile with each changed instruction replaced (or removed), the rest as it was."""
    out = list(lines)
    for instruction in sorted(instructions, key=lambda i: -i.start_line):
        replacement = kept.get(instruction.start_line, "")
        if replacement == "":
            continue
        span = slice(instruction.start_line - 1, instruction.end_line)
        out[span] = [] if replacement is None else [replacement]
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _last_spec_wins(specs: list[str]) -> list[str]:
    """One requirement per package, the last given (an `--upgrade 'idna>=3.15'` after a plain
    `idna`), in the order packages first appear."""
    order = {spec_package(spec): spec for spec in specs}  # a key keeps its first place
    return list(order.values())
