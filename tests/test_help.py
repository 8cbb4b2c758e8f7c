"""Every command, including ones added later, has help text and is documented in README.md."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from feeder.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        found.append(path)
        if isinstance(command, click.Group):
            found.extend(_commands(command, path))
    return found


COMMANDS = _commands(cli)


def test_the_known_commands_are_found() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"init", "add", "list", "show", "edit", "delete", "build", "status"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    first_line = (command.help or "").strip().splitlines()[0] if command.help else ""
    assert first_line, f"feeder {' '.join(path)} has no help text"
    # What the user reads is the command's own description, not just a usage line.
    assert " ".join(first_line.split()) in " ".join(result.output.split())


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_is_in_the_readme(path: tuple[str, ...]) -> None:
    assert f"feeder {' '.join(path)}" in README, (
        f"README.md does not mention 'feeder {' '.join(path)}'"
    )


def test_every_option_has_help() -> None:
    missing = []
    for path in COMMANDS:
        command: click.Command = cli
        for name in path:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        missing += [
            f"feeder {' '.join(path)} {param.opts[0]}"
            for param in command.params
            if isinstance(param, click.Option) and not param.help and not param.hidden
        ]
    assert missing == []


def test_group_help_lists_every_command_with_what_it_does() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = {
        line.split()[0]: " ".join(line.split()[1:])
        for line in result.output.split("Commands:", 1)[1].splitlines()
        if line.strip()
    }
    for path in COMMANDS:
        if len(path) == 1:
            command = cli.commands[path[0]]
            summary = command.get_short_help_str(limit=300).rstrip(".")
            assert path[0] in listed, f"feeder --help does not list {path[0]}"
            assert listed[path[0]] and summary.startswith(listed[path[0]].rstrip(".…")[:20])
