"""PEP 517 backend: maturin, with NVCC pointed at the pinned nvcc that pip installed
as a build requirement (nvidia-cuda-nvcc puts it in site-packages/nvidia/cu13/bin,
where sparse24's build.rs does not look). An NVCC already set wins."""

import importlib.util
import os
import stat
from pathlib import Path

import maturin
from maturin import (  # noqa: F401  (the hooks maturin implements as they are)
    build_sdist,
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)


def _point_nvcc_at_build_requirement():
    if os.environ.get("NVCC"):
        return
    spec = importlib.util.find_spec("nvidia")
    for base in (spec.submodule_search_locations if spec else None) or []:
        cu13 = Path(base) / "cu13"
        nvcc = cu13 / "bin" / "nvcc"
        if nvcc.is_file():
            # Wheels do not keep the executable bit of every tool nvcc runs.
            for tool in [*(cu13 / "bin").iterdir(), *(cu13 / "nvvm" / "bin").glob("*")]:
                if tool.is_file():
                    tool.chmod(tool.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            os.environ["NVCC"] = str(nvcc)
            return


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _point_nvcc_at_build_requirement()
    return maturin.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _point_nvcc_at_build_requirement()
    return maturin.build_editable(wheel_directory, config_settings, metadata_directory)
