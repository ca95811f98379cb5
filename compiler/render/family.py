"""Which template family renders an environment: the one home of that decision, for render (which
renders it) and plan (which must know which templates an environment reads)."""

from __future__ import annotations

INSTALL_TEMPLATE = "install.sh.j2"  # docker.enabled: false: an install script per platform
USER_MANAGED_TEMPLATE = "Dockerfile.user-managed.j2"
CONDA_TEMPLATE = "Dockerfile.conda.j2"
PIP_TEMPLATE = "Dockerfile.pip.j2"
FAMILIES = (INSTALL_TEMPLATE, USER_MANAGED_TEMPLATE, CONDA_TEMPLATE, PIP_TEMPLATE)


def template_family(*, docker: bool, user_managed: bool, conda: bool) -> str:
    """The family template of an environment with docker enabled or not, user-managed
    dependencies or not, and conda packages to install or not."""
    if not docker:
        return INSTALL_TEMPLATE
    if user_managed:
        return USER_MANAGED_TEMPLATE
    return CONDA_TEMPLATE if conda else PIP_TEMPLATE
