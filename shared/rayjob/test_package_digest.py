"""The runner's check of its own package (package_digest.py): the digest as the functions compute
it (shared/rayjob/job_test.go checks the same files and digest), bytecode caches left out, and a
replica that refuses to start on another package."""

from __future__ import annotations

from pathlib import Path

import pytest

from package_digest import ENV_DIGEST, check_package, package_digest

# The Go side's TestPackageDigestIsTheRunnersOwn: the same files give the same digest.
SHARED_DIGEST = "d04a6a44e41421a0faeed284476616d12448dac34b749284b841b23cb2f0e063"


def package(root: Path) -> Path:
    (root / "a.py").write_text("print(1)\n", encoding="utf-8")
    (root / "contract").mkdir()
    (root / "contract" / "b.json").write_text('{"é": 1}\n', encoding="utf-8")
    return root


def test_the_digest_is_the_functions_and_ignores_bytecode(tmp_path: Path) -> None:
    root = package(tmp_path)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "a.cpython-312.pyc").write_bytes(b"\x00")
    assert package_digest(root) == SHARED_DIGEST


def test_a_package_that_is_not_the_deployed_one_refuses_to_start(tmp_path: Path) -> None:
    root = package(tmp_path)
    check_package({ENV_DIGEST: SHARED_DIGEST}, root)  # the deployed one
    check_package({}, root)  # deployed without a digest: not checked
    (root / "a.py").write_text("print(2)\n", encoding="utf-8")  # replaced at the URL
    with pytest.raises(RuntimeError, match="refusing to run another package"):
        check_package({ENV_DIGEST: SHARED_DIGEST}, root)
    (root / "a.py").write_text("print(1)\n", encoding="utf-8")
    (root / "extra.py").write_text("", encoding="utf-8")  # a file added
    with pytest.raises(RuntimeError):
        check_package({ENV_DIGEST: SHARED_DIGEST}, root)
