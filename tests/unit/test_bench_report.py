"""The benchmark's results on disk and the wrk script's string quoting (no servers involved)."""

from __future__ import annotations

import json
from pathlib import Path

from payhooks_devtools.bench.load import lua_literal, write_wrk_script
from payhooks_devtools.bench.report import results_document, write_results
from payhooks_devtools.bench.stats import Figure

MACHINE = {"cores": 2, "python": "3.11", "kafka": "4.1.1", "postgresql": "15", "redis": "7"}


def test_results_are_one_json_document_and_one_plot(tmp_path: Path) -> None:
    # Given figures with and without a baseline
    figures = [
        Figure("consumer", "1 process", "/s", "1 consumer", (300.0,), "pgbench", (250.0,), 1.0),
        Figure("e2e", "p99", "ms", "pipeline", (40.0,)),
    ]
    # When written
    document = results_document(figures, MACHINE, {"quick": True})
    json_path, png_path = write_results(document, tmp_path / "results", "stamp")
    # Then the JSON holds the machine, the config and every figure, and the plot is a PNG
    written = json.loads(json_path.read_text())
    assert written["machine"] == MACHINE
    assert [f["name"] for f in written["figures"]] == ["1 process", "p99"]
    assert png_path.read_bytes().startswith(b"\x89PNG")


def test_lua_literals_survive_closing_brackets() -> None:
    assert lua_literal("plain") == "[[plain]]"
    assert lua_literal('{"a":[["x"]]}') == '[=[{"a":[["x"]]}]=]'


def test_the_wrk_script_lists_every_request_once(tmp_path: Path) -> None:
    script = write_wrk_script(
        tmp_path / "w.lua", [(b'{"n":1}', "sig"), (b'{"n":2}', "")], "x-paystack-signature", 2
    ).read_text()
    assert '{[[{"n":1}]], [[sig]]}' in script
    assert '{[[{"n":2}]], [[]]}' in script
    assert "local threads = 2" in script
