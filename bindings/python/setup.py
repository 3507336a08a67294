"""Builds libtessera with cargo and puts it inside the package, so that `pip install
bindings/python` gives a working `import tessera` with nothing to configure.

Environment:
  TESSERA_CARGO_PROFILE   "release" (default) or "debug"
  CARGO_TARGET_DIR        cargo's target directory (default: target/ at the repository root)
  TESSERA_PREBUILT_LIB    the path of a libtessera.so to bundle instead of building one
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

try:
    from wheel.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover
    bdist_wheel = None

HERE = Path(__file__).resolve().parent
LIB_NAME = "libtessera.dylib" if sys.platform == "darwin" else "libtessera.so"


def repository_root():
    """The cargo workspace that holds the ffi crate (this package lives in bindings/python)."""
    for parent in [HERE, *HERE.parents]:
        if (parent / "ffi" / "Cargo.toml").is_file() and (parent / "Cargo.toml").is_file():
            return parent
    return None


def build_library():
    prebuilt = os.environ.get("TESSERA_PREBUILT_LIB")
    if prebuilt:
        path = Path(prebuilt)
        if not path.is_file():
            sys.exit(f"TESSERA_PREBUILT_LIB={prebuilt}: no such file")
        return path
    root = repository_root()
    if root is None:
        sys.exit(
            "tessera: cannot find the Rust sources (ffi/Cargo.toml) above "
            f"{HERE}; install from a checkout of the repository, or set TESSERA_PREBUILT_LIB"
        )
    profile = os.environ.get("TESSERA_CARGO_PROFILE", "release")
    if profile not in ("release", "debug"):
        sys.exit(f"TESSERA_CARGO_PROFILE must be release or debug, not {profile!r}")
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    cmd = [cargo, "build", "-p", "tessera-ffi"] + (["--release"] if profile == "release" else [])
    print("tessera: " + " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=root, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or root / "target")
    if not target.is_absolute():
        target = root / target
    lib = target / profile / LIB_NAME
    if not lib.is_file():
        sys.exit(f"tessera: cargo built no {lib}")
    return lib


class BuildPyWithLibrary(build_py):
    """build_py that also builds libtessera and copies it into the package."""

    def run(self):
        super().run()
        lib = build_library()
        dest = Path(self.build_lib) / "tessera" / LIB_NAME
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lib, dest)
        print(f"tessera: bundled {lib} as {dest}", flush=True)


cmdclass = {"build_py": BuildPyWithLibrary}

if bdist_wheel is not None:

    class PlatformWheel(bdist_wheel):
        """The wheel holds a native library but no Python extension: any Python 3, one
        platform."""

        def finalize_options(self):
            super().finalize_options()
            self.root_is_pure = False

        def get_tag(self):
            _, _, plat = super().get_tag()
            return "py3", "none", plat

    cmdclass["bdist_wheel"] = PlatformWheel

setup(cmdclass=cmdclass)
