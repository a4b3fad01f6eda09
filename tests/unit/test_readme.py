"""The README stays true to the code: one section per subject (concurrent edits have
duplicated sections before), the two opening commands as they are, every `tokenbot` command
it shows exists, and the demo people it names are the demo's."""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from bot.cli import build_parser
from bot.demo import DEMO_MANAGER, DEMO_MEMBER

README = (Path(__file__).parents[2] / "README.md").read_text()
FIRST_COMMANDS = [
    "pip install -e . && tokenbot demo                 # seed a demo org into SQLite and chat with it on the console",
    "pip install -e '.[test]' && pytest                # run the test suite",
]


def code_lines() -> list[str]:
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", README, flags=re.S | re.M)
    return [line.strip() for block in blocks for line in block.splitlines()]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_no_section_of_the_readme_appears_twice():
    headings = re.findall(r"^#{2,3} .+$", README, flags=re.M)
    assert [h for h, n in Counter(headings).items() if n > 1] == []


def test_the_readme_opens_with_the_demo_and_the_test_commands():
    assert code_lines()[:2] == FIRST_COMMANDS


def test_every_tokenbot_command_the_readme_shows_exists():
    commands = subcommands(build_parser())
    shown = [line.split("#")[0].split() for line in code_lines() if line.startswith("tokenbot ")]
    assert len(shown) > 20
    for words in shown:
        assert words[1] in commands, " ".join(words)
        nested = subcommands(commands[words[1]])
        if nested and len(words) > 2 and not words[2].startswith("-"):
            assert words[2] in nested, " ".join(words)


def test_the_demo_people_the_readme_names_are_the_demos():
    assert DEMO_MEMBER in README and DEMO_MANAGER in README


def layout_block() -> list[str]:
    section = README.split("## Layout\n", 1)[1]
    return re.findall(r"^```\n(.*?)^```", section, flags=re.S | re.M)[0].splitlines()


def test_every_path_the_layout_names_exists_and_every_package_is_named():
    root = Path(__file__).parents[2]
    named: set[str] = set()
    parent = ""
    for line in layout_block():
        if line.startswith("   "):
            continue  # a description's next line
        if line.startswith("  "):  # the files and folders of the last top-level directory
            for word in line.split():
                if not re.fullmatch(r"\w+(/|\.py)", word):
                    break  # the description begins
                named.add(parent + word)
        elif line.strip():
            parent = line.split()[0]
            named.add(parent)
    missing = sorted(p for p in named if not (root / p.rstrip("/")).exists())
    assert missing == []
    packages = {f"{d.name}/" for d in root.iterdir() if d.is_dir() and (d / "__init__.py").exists()}
    assert packages - named == set()
