"""The docs and the settings agree: README's Configuration table names every setting, and every
`PAYHOOKS_*` variable the README or docs/ name is one the code reads (a setting or a flag's)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from kernel.settings import PROVIDERS, Settings
from payhooks import cli
from payhooks_devtools.cli import register

ROOT = Path(__file__).resolve().parents[2]
# a name, not a wildcard (`PAYHOOKS_KAFKA_*`)
VARIABLE = re.compile(r"PAYHOOKS_[A-Z0-9_<>]*[A-Z0-9>](?![A-Z0-9_<>]*\*)")
# `PAYHOOKS_SWEEP_OLDER_THAN` / `_PERIOD`: a suffix written short after a full name
SHORTHAND = re.compile(r"`(PAYHOOKS_[A-Z0-9_]+)`((?:\s*[/,]\s*`_[A-Z0-9_]+`)+)")


def named_variables(text: str) -> set[str]:
    """Every variable the text names, with short suffixes and `<PROVIDER>` spelt out."""
    names = set(VARIABLE.findall(text))
    for match in SHORTHAND.finditer(text):
        words = match.group(1).split("_")
        for suffix in re.findall(r"`(_[A-Z0-9_]+)`", match.group(2)):
            # the suffix replaces some tail of the full name; any of them may be meant
            names |= {"_".join(words[:cut]) + suffix for cut in range(2, len(words))}
    spelt = {
        name.replace("<PROVIDER>", provider.upper())
        for name in names
        for provider in PROVIDERS
        if "<PROVIDER>" in name
    }
    return {name for name in names if "<" not in name} | spelt


def flag_variables() -> set[str]:
    """The variables of every flag, the dev tooling's included (registered on a copy)."""
    dev = typer.Typer()
    register(dev)
    found: set[str] = set()
    # typer's own (vendored) click types
    commands: list[Any] = [typer.main.get_command(cli.app), typer.main.get_command(dev)]
    while commands:
        command = commands.pop()
        found |= {param.envvar for param in command.params if isinstance(param.envvar, str)}
        commands.extend(getattr(command, "commands", {}).values())
    return found


SETTINGS = {f"PAYHOOKS_{name.upper()}" for name in Settings.model_fields}


def test_readme_configuration_names_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n")[1].split("\n## ")[0]

    missing = SETTINGS - named_variables(section)

    assert not missing, f"settings README's Configuration does not name: {sorted(missing)}"


def test_every_variable_the_docs_name_is_read_by_the_code() -> None:
    known = SETTINGS | flag_variables()
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        named = set(VARIABLE.findall(doc.read_text()))
        named = {name for name in named if "<" not in name}

        unknown = named - known

        assert not unknown, f"{doc.name} names variables nothing reads: {sorted(unknown)}"
