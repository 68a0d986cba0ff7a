"""Build backend: setuptools' own, plus one file in every wheel, `ablate-compat.pth` (see ablate.compat).

    pip install -e ".[cpu,dev]"      # pyproject.toml: build-backend = "ablate_build", backend-path = ["tools"]

site.py runs the `import` line of each `*.pth` file in site-packages at interpreter start, so the
installed environment hides the CUDA-only media wheels that cannot load beside a CPU torch in every
process, not only in processes that import ablate first. Setuptools has no supported way to place a
file at the root of site-packages in both regular and editable (PEP 660) installs (`data_files` are
dropped by editable wheels), so the finished wheel gets the file added here, with its RECORD line.
Everything else is delegated to setuptools.build_meta unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile

from setuptools import build_meta as _st
from setuptools.build_meta import *  # noqa: F401,F403  (every other PEP 517 / 660 hook, unchanged)

PTH_NAME = "ablate-compat.pth"  # sorts after __editable__.*.pth, which makes `ablate` importable first
# One line, guarded: an interpreter start must never fail because of this file.
PTH_LINE = ('import os, sys; exec("try:\\n import ablate\\nexcept Exception as e:\\n '
            'sys.stderr.write(f\'ablate-compat.pth: {e}\\\\n\')") '
            'if os.environ.get("ABLATE_HIDE_MODULES", "").lower() != "none" else None\n')


def _add_pth(wheel_path: str) -> None:
    data = PTH_LINE.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    tmp = wheel_path + ".tmp"
    with zipfile.ZipFile(wheel_path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == PTH_NAME:
                continue
            if info.filename.endswith(".dist-info/RECORD"):
                record = body.decode()
                body = (record.rstrip("\n") + f"\n{PTH_NAME},sha256={digest},{len(data)}\n").encode()
                dst.writestr(PTH_NAME, data)
            dst.writestr(info, body)
    os.replace(tmp, wheel_path)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = _st.build_wheel(wheel_directory, config_settings, metadata_directory)
    _add_pth(os.path.join(wheel_directory, name))
    return name


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    name = _st.build_editable(wheel_directory, config_settings, metadata_directory)
    _add_pth(os.path.join(wheel_directory, name))
    return name
