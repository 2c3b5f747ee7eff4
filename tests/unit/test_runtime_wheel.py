"""The runtime wheel and image hold the runtime packages and no dev tooling (docs/architecture.md):
kernel, schemas, the deployables, operations and the CLI; the local stack, simulator, chaos, bench
and demo live in the payhooks-devtools distribution, which the Dockerfile never installs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = {"kernel", "schemas", "producer_gateway", "payments_api", "consumer", "operations"}


def build_wheel(tmp_path: Path) -> set[str]:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("payhooks-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_runtime_wheel_holds_the_runtime_packages_and_no_dev_tooling(tmp_path: Path) -> None:
    # Given the wheel built the way the Dockerfile builds it
    names = build_wheel(tmp_path)
    top_level = {name.split("/")[0] for name in names if "/" in name}

    # Then it holds every runtime package, the CLI, the migrations and nothing of the dev tooling
    assert RUNTIME | {"payhooks"} <= top_level
    assert "payhooks/cli.py" in names
    assert "kernel/db/migrations/env.py" in names
    assert not any("devtools" in name for name in names)
    assert not any(name.startswith("tests/") for name in names)
    for gone in ("stack", "simulator", "chaos", "bench", "demo.py", "localnet.py"):
        assert not any(name.startswith(f"payhooks/{gone}") for name in names), gone


def test_the_image_installs_no_dev_tooling() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    ignored = set((ROOT / ".dockerignore").read_text().split())
    # The build context leaves the devtools distribution out, and nothing installs it.
    assert "devtools" in ignored
    assert "payhooks-devtools" not in dockerfile
    assert "devtools" not in " ".join(
        line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")
    )


def test_a_dev_command_without_the_dev_tooling_says_how_to_get_it() -> None:
    # Given a payhooks whose payhooks-devtools is not installed (as in the runtime image)
    script = (
        "import sys; sys.modules['payhooks_devtools'] = None; "
        "sys.argv = ['payhooks', 'stack', 'up']; from payhooks.cli import main; main()"
    )
    # When someone runs a dev command
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    # Then it fails with one line that says how to get it
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: `payhooks stack` is dev tooling; install the dev tooling: "
        "`pip install -e ./devtools` (what `make setup` does)"
    ]
