"""The runner's check of its own package at start: the digest of the files it runs, against the
one it was deployed with (RAYEXEC_RUNNER_DIGEST in its runtime_env, which the functions and
`make runner-package` write from the same files: shared/rayjob/job.go's PackageDigest). A replica
whose package is not the deployed one (a stale or replaced file at the working_dir URL, a node's
cache of another build) refuses to start, and Serve reports the application DEPLOY_FAILED.

The digest is sha256 over every file of the package in path order, each as its slash-separated
path, a newline, its length in bytes, a newline and its bytes; Python's bytecode caches
(__pycache__) are not part of the package. It proves the files are the deployed ones only as far
as the checking code itself is: a package replaced on purpose brings its own check, which is why
the digest is also in the package's name (_ray_pkg_<sha256 of the zip>.zip) and the RayService
alternative can bake the package into an image instead (docs/deploy.md)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

ENV_DIGEST = "RAYEXEC_RUNNER_DIGEST"
PACKAGE_DIR = Path(__file__).resolve().parent


def package_digest(root: Path = PACKAGE_DIR) -> str:
    files: list[tuple[str, Path]] = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if d != "__pycache__"]
        for name in names:
            path = Path(directory) / name
            files.append((path.relative_to(root).as_posix(), path))
    digest = hashlib.sha256()
    for relative, path in sorted(files):
        data = path.read_bytes()
        digest.update(f"{relative}\n{len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()


def check_package(environ: Mapping[str, str], root: Path = PACKAGE_DIR) -> None:
    """Raises when the deployment names a digest and the files here have another; a runner
    deployed without one (a test, a hand-made config) is not checked."""
    want = environ.get(ENV_DIGEST, "").strip()
    if not want:
        return
    have = package_digest(root)
    if have != want:
        raise RuntimeError(f"the runner's package in {root} has digest {have}, not {want}, the one it "
                           f"was deployed with ({ENV_DIGEST}): refusing to run another package")
