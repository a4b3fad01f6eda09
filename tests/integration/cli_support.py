"""Run the real `tokenbot` console script (or `python -m bot.cli`) in a subprocess against the
database under test, with stdin piped, as an operator or a script would."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

# The script pip installed next to the interpreter running the tests (same venv).
SCRIPT = Path(sys.executable).with_name("tokenbot")


def tokenbot(
    *args: str,
    database_url: str,
    stdin: str = "",
    module: bool = False,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bot.cli"] if module or not SCRIPT.exists() else [str(SCRIPT)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENBOT_")}
    env["TOKENBOT_DATABASE_URL"] = database_url
    return subprocess.run(
        [*command, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def wall_clock_now() -> datetime:
    """The subprocess reads the real clock, so data it should see is made for the real now."""
    return datetime.now(UTC)
