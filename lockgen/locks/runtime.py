"""What CUDA a lock needs, read from the packages it pins: a pure, table-driven map.

A lock's label (``cuda = "12.8"``) is a claim; its artifacts are the truth. Each
rule below reads one naming convention a real package uses to say which CUDA it
was built for, and the lock needs the newest CUDA any of its packages needs.

The rules, with their sources:

* **Local version labels** — PyTorch's own indexes (and projects that follow
  them: torchvision, torchaudio, xformers, vLLM, flash-attn builds) tag builds
  ``+cu118``, ``+cu128``, ``+cu130`` (CUDA 11.8, 12.8, 13.0) and ``+cpu``
  (https://pytorch.org/get-started/locally/, https://download.pytorch.org/whl/).
  Older jaxlib builds used ``+cuda12.cudnn89`` (CUDA 12).
* **NVIDIA's CUDA wheels** — ``nvidia-<component>-cu11``/``-cu12`` for CUDA 11
  and 12; from CUDA 13 the components drop the suffix (``nvidia-cuda-runtime``,
  ``nvidia-cublas`` …) and the ``cuda-toolkit`` metapackage pins them
  (https://pypi.org/project/cuda-toolkit/, https://docs.nvidia.com/cuda/cuda-quick-start-guide/#pip-wheels).
  Components versioned *as the toolkit* (``nvidia-cuda-runtime-cu12 12.8.90`` is
  CUDA 12.8) give the minor too; the others (cuDNN 9.x, NCCL 2.x, cuFFT 11.x …)
  say only "CUDA, of the major in their name".
* **``cuda-toolkit``** X.Y.Z is CUDA X.Y; **``cuda-bindings``/``cuda-python``** X.*
  are built for CUDA X (https://nvidia.github.io/cuda-python/).
* **JAX** — ``jax-cuda12-plugin``/``jax-cuda12-pjrt`` (CUDA 12), ``jax-cuda13-…``
  (https://docs.jax.dev/en/latest/installation.html).
* **CuPy** — ``cupy-cuda12x`` (any CUDA 12), ``cupy-cuda11x``, ``cupy-cuda13x``;
  before the ``x`` wheels, ``cupy-cuda102`` = 10.2, ``cupy-cuda117`` = 11.7
  (https://docs.cupy.dev/en/stable/install.html).
* **A ``-cuNN``/``-cudaNNN`` name suffix** — TensorRT (``tensorrt-cu12``),
  RAPIDS (``cudf-cu12``, ``cuml-cu12``), DALI (``nvidia-dali-cuda120`` = 12.0),
  MXNet (``mxnet-cu112`` = 11.2): two digits name the major, three major.minor.
* **paddlepaddle-gpu** marks its CUDA in the post release: ``2.6.1.post120`` = 12.0
  (https://www.paddlepaddle.org.cn/en/install/quick).
* **One name, several CUDAs, by version** — ``onnxruntime-gpu`` (CUDA 11.8 until
  1.18, 12 from 1.19, 13 from 1.27) and ``tensorrt`` (12, then 13 from 10.13.2).

Names that say nothing (``triton``, ``bitsandbytes``, ``cuda-core``,
``cuda-pathfinder``, torchvision without a local version) follow what they pull.

What "needs CUDA X.Y" means for a machine: NVIDIA's minor-version compatibility
(CUDA Compatibility guide, "Minor Version Compatibility") lets an application
built with any CUDA X.y run on a driver that supports CUDA X.0 or newer, minus
features that need the newer driver (PTX JIT of newer PTX among them); across a
major there is no such promise. So a lock that needs CUDA 13.2 runs on a 13.0
driver with that caveat (a warning), and never on a 12.x driver (an error).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# NVIDIA components versioned as the toolkit they ship with (12.8.90 → CUDA 12.8).
# nvjitlink is one too, but packages require it loosely (>=), so a lock may hold a
# newer one than its runtime: like every component, it only counts for the minor
# when the lock has no runtime package.
TOOLKIT_VERSIONED = frozenset({
    "cuda-runtime", "cuda-nvrtc", "cuda-cupti", "cuda-nvcc", "cuda-crt", "cuda-nvdisasm", "cuda-cuxxfilt",
    "cuda-sanitizer-api", "cuda-profiler-api", "cuda-cuobjdump", "cuda-culibos", "cuda-opencl", "cuda-tileiras",
    "nvjitlink", "nvtx", "nvvm", "nvfatbin", "nvml-dev", "nvptxcompiler",
})  # fmt: skip
# CUDA 13 dropped the -cuNN suffix of its toolkit components; these names exist only
# for CUDA 13 and their versions are their own (curand 10.4 is CUDA 13, 10.3 was 12).
CUDA_13_NAMES = frozenset({
    "nvidia-cuda-runtime", "nvidia-cublas", "nvidia-cufft", "nvidia-curand", "nvidia-cusolver",
    "nvidia-cusparse", "nvidia-cufile", "nvidia-npp", "nvidia-nvjpeg", "nvidia-cudla", "nvidia-cuda-cccl",
})  # fmt: skip
# One name for several CUDA majors, told apart by version: (first version, CUDA).
# onnxruntime-gpu: 1.19 moved to CUDA 12 (onnxruntime.ai, CUDA Execution Provider) and
# 1.27 to CUDA 13 (its provider links libcudart.so.13); tensorrt: 10.13.2 moved to
# tensorrt-cu13 (its Requires-Dist on Linux).
BY_VERSION: dict[str, tuple[tuple[str, str], ...]] = {
    "onnxruntime-gpu": (("0", "11.8"), ("1.19", "12.0"), ("1.27", "13.0")),
    "tensorrt": (("0", "12.0"), ("10.13.2", "13.0")),
}
_NVIDIA = re.compile(r"nvidia-(?P<component>[a-z0-9-]+?)(?:-cu(?P<major>\d{2}))?")
_LOCAL_CU = re.compile(r"(?<![a-z])cu(?P<digits>\d{2,3})(?!\d)")  # +cu128, +pt21cu121, +cu12torch2.10
_LOCAL_CUDA = re.compile(r"(?:^|[._-])cuda(?P<major>\d{2,3})(?=$|[._-])")  # jaxlib +cuda12.cudnn89
_SUFFIX = re.compile(r".+-cu(?:da)?(?P<digits>\d{2,3})(?P<x>x)?(?:-[a-z]+)?")
_JAX = re.compile(r"jax-cuda(?P<major>\d{2})-(?:plugin|pjrt)")
_VERSION_PREFIX = re.compile(r"(\d+)\.(\d+)")


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Cuda:
    """A CUDA version as a need: (major, minor); minor 0 when only the major is known."""

    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @classmethod
    def parse(cls, text: str) -> Cuda | None:
        m = _VERSION_PREFIX.match(text)
        return cls(major=int(m[1]), minor=int(m[2])) if m else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """What one locked package says about the CUDA it needs."""

    package: str
    version: str
    needs: Cuda | None  # None: a CUDA package whose version says nothing of which CUDA
    rule: str  # which convention told, for messages
    runtime: bool = False  # the CUDA runtime itself, or a build tagged with it


@dataclass(frozen=True, slots=True, kw_only=True)
class Needs:
    """What a lock's packages, together, need of a machine's CUDA."""

    evidence: tuple[Evidence, ...]

    @property
    def cuda(self) -> Cuda | None:
        """The CUDA runtime the lock is built for; None when nothing in it needs CUDA.

        That is the newest version the runtime itself or a build tagged with it
        names (``nvidia-cuda-runtime``, ``+cu128``, ``cuda-toolkit``); failing
        those, the newest any package names. Libraries beside the runtime carry
        their own minor versions (cuBLAS 13.4 with runtime 13.2) and run on any
        driver of their major, so they raise the major, never the minor.
        """
        versions = [e.needs for e in self.evidence if e.needs is not None]
        if not versions:
            return None
        runtime = [e.needs for e in self.evidence if e.runtime and e.needs is not None]
        found = max(runtime or versions)
        top = max(v.major for v in versions)
        return found if top <= found.major else Cuda(major=top, minor=0)

    @property
    def any(self) -> bool:
        return bool(self.evidence)


def _digits(digits: str) -> Cuda:
    """``128`` → 12.8, ``92`` → 9.2, ``12`` → 12.0 (two digits name a major since CUDA 10)."""
    if len(digits) == 3:
        return Cuda(major=int(digits[:2]), minor=int(digits[2]))
    if digits.startswith("1"):  # cu11, cu12, cu13: a major
        return Cuda(major=int(digits), minor=0)
    return Cuda(major=int(digits[0]), minor=int(digits[1]))  # cu92, cu80: CUDA 9.2, 8.0


def package_needs(name: str, version: str) -> Evidence | None:
    """What one pinned package says about the CUDA it needs; None when nothing."""
    base, _, local = version.partition("+")
    if local:
        m = _LOCAL_CU.search(local.lower())
        if m:
            needs = _digits(m["digits"])
            return Evidence(package=name, version=version, needs=needs, rule=f"local version +{local}", runtime=True)
        m = _LOCAL_CUDA.search(local.lower())
        if m:
            needs = _digits(m["major"])
            return Evidence(package=name, version=version, needs=needs, rule=f"local version +{local}", runtime=True)
    if name == "cuda-toolkit":
        return Evidence(
            package=name, version=version, needs=Cuda.parse(base), rule="the CUDA toolkit's version", runtime=True
        )
    if name in ("cuda-bindings", "cuda-python"):
        parsed = Cuda.parse(base)
        major = Cuda(major=parsed.major, minor=0) if parsed else None
        return Evidence(package=name, version=version, needs=major, rule="built for its major's CUDA")
    m = _JAX.fullmatch(name)
    if m:
        return Evidence(package=name, version=version, needs=Cuda(major=int(m["major"]), minor=0), rule="its name")
    if name in BY_VERSION:
        return _by_version(name, version, base)
    if name == "paddlepaddle-gpu":
        post = re.search(r"\.post(\d{3})$", base)
        if post:
            return Evidence(package=name, version=version, needs=_digits(post[1]), rule="its post release")
    m = _SUFFIX.fullmatch(name)
    if m and not name.startswith("nvidia-cu") and (m["x"] or len(m["digits"]) == 3 or m["digits"].startswith("1")):
        needs = Cuda(major=int(m["digits"]), minor=0) if m["x"] else _digits(m["digits"])
        if not (name.startswith("nvidia-") and len(m["digits"]) == 2):  # nvidia-*-cuNN: read below
            return Evidence(package=name, version=version, needs=needs, rule="its name")
    m = _NVIDIA.fullmatch(name)
    if m:
        return _nvidia(name, version, base, m["component"], m["major"])
    return None


def _nvidia(name: str, version: str, base: str, component: str, major: str | None) -> Evidence | None:
    exact = _component_version(component, base)
    runtime = component == "cuda-runtime"
    if major is not None:  # -cu11 / -cu12 / -cu13
        declared = int(major)
        if exact and exact.major == declared:
            return Evidence(
                package=name, version=version, needs=exact, rule="the CUDA toolkit's version", runtime=runtime
            )
        return Evidence(package=name, version=version, needs=Cuda(major=declared, minor=0), rule="its name")
    if exact is not None and exact.major >= 13:  # CUDA 13 names carry no suffix
        return Evidence(package=name, version=version, needs=exact, rule="the CUDA toolkit's version", runtime=runtime)
    if name in CUDA_13_NAMES:
        return Evidence(package=name, version=version, needs=Cuda(major=13, minor=0), rule="a CUDA 13 name")
    return None


def _component_version(component: str, base: str) -> Cuda | None:
    """The CUDA release a component's own version names, where it names one."""
    found = Cuda.parse(base)
    if found is None:
        return None
    if component in TOOLKIT_VERSIONED:
        return found
    if component == "cuda-cccl" and base.count(".") <= 3:  # from 13.3 on: 13.<CCCL version>
        return found
    if component == "cublas" and found.major == 12:  # cuBLAS 11.x and 13.x keep their own minors
        return found
    return None


def _by_version(name: str, version: str, base: str) -> Evidence | None:
    from packaging.version import InvalidVersion, Version

    try:
        v = Version(base)
    except InvalidVersion:
        return None
    found = None
    for first, cuda in BY_VERSION[name]:
        if v >= Version(first):
            found = cuda
    needs = Cuda.parse(found) if found else None
    return Evidence(package=name, version=version, needs=needs, rule="its version (one name for several CUDAs)")


def infer(versions: Mapping[str, str]) -> Needs:
    """What the packages (canonical name → version) need, with the evidence."""
    found = [e for name, version in sorted(versions.items()) if (e := package_needs(name, version)) is not None]
    return Needs(evidence=tuple(found))
