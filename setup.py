"""Build hook: ship examples/ and sample_logs/ inside the package for ``bigpanda-agent demo``."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithBundle(build_py):
    """Copy the example configuration and sample logs into ``agent/bundled``."""

    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "agent" / "bundled"
        for name in ("examples", "sample_logs"):
            if (root / name).is_dir():
                shutil.copytree(root / name, target / name, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("state", "__pycache__", "*.db*"))


setup(cmdclass={"build_py": BuildWithBundle})
