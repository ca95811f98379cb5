"""Patterns of the manifest's string values, with the words a diagnostic uses to explain them.

Shared by the model (which puts them in the JSON Schema) and by validation (which must not import
pydantic). Patterns admit no whitespace or shell metacharacters; control characters are refused for
every string by the semantic rules as well, because Python's `re` lets `$` match before a final
newline.
"""

import functools
import re

# The package a conda MatchSpec or PEP 508 requirement names: `conda-forge::numpy >=1`,
# `Scikit_Learn>=1.5`, `mlflow[extras]==2`.
_SPEC_PACKAGE = re.compile(r"^\s*(?:[\w./:-]+::)?([A-Za-z0-9][A-Za-z0-9._-]*)")


@functools.lru_cache(maxsize=65536)
def spec_package(spec: str) -> str:
    """The package `spec` names, in PEP 503's normal form (`Scikit_Learn` -> `scikit-learn`), as
    conda and pip spellings of one package compare equal; the stripped spec when none is
    found. Remembered: locks of one repository name the same packages over and over."""
    from packaging.utils import canonicalize_name

    match = _SPEC_PACKAGE.match(spec)
    return str(canonicalize_name(match.group(1))) if match else spec.strip().lower()


# A name is an OCI repository path component (registries refuse others: `a..b`, `a._b`);
# at most 64 characters (NAME_MAX_LENGTH, a separate check: the grammar cannot count).
NAME_PATTERN = r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$"
NAME_MAX_LENGTH = 64
PYTHON_VERSION_PATTERN = r"^3\.[0-9]{1,2}(?:\.[0-9]{1,3})?$"
CUDA_VERSION_PATTERN = r"^[0-9]{1,2}\.[0-9]{1,2}$"
# A relative path inside the repository: no leading '/', no '..' and no hidden components.
RELATIVE_PATH_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._-]*(?:/[A-Za-z0-9_][A-Za-z0-9._-]*)*$"
ABSOLUTE_PATH_PATTERN = r"^/[A-Za-z0-9._+-]+(?:/[A-Za-z0-9._+-]+)*$"
# The docker reference grammar (distribution/reference): [host[:port]/]path[:tag][@digest].
IMAGE_PATTERN = (
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
REGISTRY_ADDRESS_PATTERN = r"^[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]{1,5})?$"
PLACEHOLDER_PATTERN = r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$"
VARIABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
TAG_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$"
CHANNEL_PATTERN = r"^[A-Za-z0-9_.:/@+${}~%-]+$"
# A pip index (PEP 503 simple API) by URL; credentials only as ${VAR} placeholders (values.py).
INDEX_URL_PATTERN = r"^https?://[A-Za-z0-9_.:/@+${}~%=-]+$"
# A user to run as: a POSIX user name or a numeric uid, optionally with :group / :gid.
_USER_OR_GROUP = r"(?:[a-z_][a-z0-9_-]{0,31}|[0-9]{1,10})"
USER_PATTERN = rf"^{_USER_OR_GROUP}(?::{_USER_OR_GROUP})?$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"  # envc.yaml's policy exceptions expire on one


EXPLANATIONS = {
    NAME_PATTERN: "a name: lowercase letters and digits, separated by single '.' or '_', '__', "
    "or dashes; starting and ending with a letter or digit (an OCI repository name)",
    PYTHON_VERSION_PATTERN: 'a Python version such as "3.12" or "3.12.4"',
    CUDA_VERSION_PATTERN: 'a CUDA version such as "12.1"',
    RELATIVE_PATH_PATTERN: "a relative path inside the repository (letters, digits, '.', '_', '-' "
    "and '/'; no '..', no leading '/' or '.')",
    ABSOLUTE_PATH_PATTERN: "an absolute path such as /opt/conda/bin/python",
    IMAGE_PATTERN: "an image reference such as registry.example.com/team/image:tag[@sha256:...]",
    REGISTRY_ADDRESS_PATTERN: "a registry host name with an optional port",
    PLACEHOLDER_PATTERN: "a ${VARIABLE} placeholder; credentials come from the environment, "
    "never from the manifest",
    VARIABLE_NAME_PATTERN: "an environment variable name (letters, digits and '_')",
    TAG_KEY_PATTERN: "a tag key (letters, digits, '_', '.', ':', '/', '-')",
    CHANNEL_PATTERN: "a conda channel name or URL",
    INDEX_URL_PATTERN: "a pip index URL such as https://download.pytorch.org/whl/cu121 (http or "
    "https; letters, digits and . _ : / @ + ~ % = -, credentials as ${VAR} placeholders)",
    USER_PATTERN: "a user name or numeric uid, optionally with :group or :gid (1000:1000)",
    DATE_PATTERN: "a date, YYYY-MM-DD",
}
