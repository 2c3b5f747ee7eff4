"""The lock files cover pyproject.toml, and the Dockerfile installs from them the way we promise:
locked runtime dependencies in their own layer before the source, non-root, a health check."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;\\]+)")


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    found: dict[str, str] = {}
    for block in re.split(r"\n(?=\S)", text):
        match = PIN.match(block)
        if match:
            assert "--hash=sha256:" in block, f"{lock}: {match.group(1)} has no hash"
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def declared(group: str | None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = project["project"]["dependencies"]
    if group is not None:
        listed = project["dependency-groups"][group]
    return {canonicalize_name(Requirement(item).name) for item in listed}


def test_every_dependency_is_pinned_with_hashes_in_the_lock_files() -> None:
    runtime, dev = pins("runtime.txt"), pins("dev.txt")
    missing_runtime = declared(None) - runtime.keys()
    missing_dev = (declared(None) | declared("dev")) - dev.keys()
    relock = "run `make lock` after changing pyproject.toml"
    assert not missing_runtime, f"not in requirements/runtime.txt: {missing_runtime}; {relock}"
    assert not missing_dev, f"not in requirements/dev.txt: {missing_dev}; {relock}"


def test_runtime_and_dev_locks_agree_and_the_runtime_one_has_no_dev_tooling() -> None:
    runtime, dev = pins("runtime.txt"), pins("dev.txt")
    assert {name: dev.get(name) for name in runtime} == runtime
    assert not {"pytest", "mypy", "ruff", "hypothesis", "kubernetes-validate"} & runtime.keys()


def _stages(dockerfile: str) -> list[list[str]]:
    lines = dockerfile.replace("\\\n", " ").splitlines()
    stages: list[list[str]] = []
    for line in (raw.strip() for raw in lines):
        if line.upper().startswith("FROM "):
            stages.append([])
        if line and not line.startswith("#") and stages:
            stages[-1].append(line)
    return stages


def test_the_image_installs_locked_dependencies_before_the_source_and_runs_as_non_root() -> None:
    build, runtime = _stages((ROOT / "Dockerfile").read_text())
    install_deps = next(i for i, line in enumerate(build) if "--require-hashes" in line)
    copy_source = next(i for i, line in enumerate(build) if line.startswith("COPY . "))
    assert install_deps < copy_source, "dependencies must be their own layer, before the source"
    assert "requirements/runtime.txt" in " ".join(build)
    assert "dev.txt" not in (ROOT / "Dockerfile").read_text()

    user = next(line for line in runtime if line.startswith("USER "))
    assert user.split()[1].split(":")[0] not in {"0", "root"}
    assert any(line.startswith("HEALTHCHECK ") for line in runtime)
    exposed = next(line for line in runtime if line.startswith("EXPOSE ")).split()[1:]
    assert {"8080", "8081", "9100"} <= set(exposed)


def test_the_build_context_leaves_local_state_and_tests_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".git", ".payhooks", "tests"} <= ignored
