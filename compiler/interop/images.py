"""Azure ML's curated base images, and what an image reference says about CUDA: one home for
the importers (a v1 or v2 definition naming a CUDA image is a GPU environment), the SDK v1
layer and the Azure ML exports."""

from __future__ import annotations

import re

# Azure ML builds a conda file on top of an image that has conda: its curated base images, by
# CUDA major version (a CUDA 12.x runtime runs code built for any 12.y).
AZUREML_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi5.0-ubuntu24.04:latest"
AZUREML_GPU_IMAGES = {
    "11": "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04:latest",
    "12": "mcr.microsoft.com/azureml/openmpi5.0-cuda12.4-ubuntu22.04:latest",
}
# `…/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04`, `nvidia/cuda:12.4.1-runtime-ubuntu22.04`,
# `…/acpt-pytorch-2.2-cuda12.1`: the CUDA version is in the repository path or in the tag.
_CUDA_IN_PATH = re.compile(r"cuda[-_]?(\d{1,2})\.(\d{1,2})")
_CUDA_IN_TAG = re.compile(r"(?:^|/)cuda:(\d{1,2})\.(\d{1,2})")


def cuda_of_image(image: str) -> str | None:
    """The CUDA version (`"12.4"`) an image reference names, None for a CPU image."""
    reference = image.lower().split("@", 1)[0]
    match = _CUDA_IN_TAG.search(reference) or _CUDA_IN_PATH.search(reference)
    return f"{int(match.group(1))}.{int(match.group(2))}" if match else None


def base_image_settings(image: str) -> dict[str, str]:
    """`docker:` settings for a base image: a CUDA image makes the environment a GPU one (its
    locks then carry `__cuda`)."""
    cuda = cuda_of_image(image)
    return {"base_image": image, **({"compute": "gpu", "cuda": cuda} if cuda else {})}


# Conda packages whose version is the CUDA an environment is built for (conda-forge's
# cuda-version, PyTorch's pytorch-cuda, NVIDIA's cuda-* metapackages, the old cudatoolkit).
_CUDA_PACKAGE = re.compile(
    r"^(?:[\w./:-]+::)?(?:cuda-version|pytorch-cuda|cuda-toolkit|cuda-runtime|cuda|cudatoolkit)"
    r"\s*(?:==?|>=|~=)?\s*(\d{1,2})(?:\.(\d{1,2}))?"
)


def cuda_of_specs(specs: list[str]) -> tuple[str, str] | None:
    """(the spec, the CUDA floor it pins: `12.1`, or `12` for `12.*`) of the first conda spec
    that pins a CUDA version; None for an environment that names none."""
    for spec in specs:
        match = _CUDA_PACKAGE.match(spec.strip())
        if match:
            return spec, match[1] if match[2] is None else f"{match[1]}.{match[2]}"
    return None


def catalog_cuda(floor: str) -> str:
    """The CUDA of the base image for a CUDA floor (pixi's `cuda`, a pinned cuda package):
    the floor when the base-image catalog has an image of it, else the catalog's newest of
    that major version above it (CUDA's minor-version compatibility runs it on the floor's
    driver, and the solve may use packages up to it); the floor as X.Y when it has none."""
    from compiler.validate.catalog import load_catalog

    def key(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in version.split("."))

    wanted = floor if "." in floor else f"{floor}.0"
    known = load_catalog(None).gpu
    above = [v for v in known if key(v)[0] == key(wanted)[0] and key(v) >= key(wanted)]
    return wanted if wanted in known or not above else max(above, key=key)
