"""The wheel's build requirements pin the same nvcc packages as the project's own
installer (scripts/toolchain/install-cuda-compiler.sh), so pip and CI build the
kernels with one compiler."""

import re
from pathlib import Path

import sparse24

ROOT = Path(__file__).resolve().parents[2]


def pins(text):
    return dict(re.findall(r"(nvidia-[a-z0-9-]+)==([0-9.]+)", text))


def test_build_requirements_pin_the_projects_nvcc():
    pyproject = (ROOT / "python" / "pyproject.toml").read_text()
    requires = pyproject.split("requires = [", 1)[1].split("]", 1)[0]
    wheel = pins(requires)
    installer = pins((ROOT / "scripts" / "toolchain" / "install-cuda-compiler.sh").read_text())
    assert "nvidia-cuda-nvcc" in wheel
    # Every compiler package the wheel builds with is the installer's, same version
    # (the installer adds only disassemblers).
    assert {k: installer.get(k) for k in wheel} == wheel


def test_exception_is_public():
    assert sparse24.Sparse24Error.__module__ == "sparse24"
    assert issubclass(sparse24.Sparse24Error, ValueError)


def test_the_wheel_carries_the_kernels():
    # Built with require-kernels: the GPU path can only be missing a device, never
    # its kernels.
    reason = sparse24.cuda_unavailable_reason() or ""
    assert "were not compiled" not in reason
