"""Adapter tests drive tokenbot over its real wire protocols (see slack_fakes.py, teams_fakes.py)."""

from tests.adapters.slack_fakes import fake_slack, slack  # noqa: F401  (fixtures)
from tests.adapters.teams_fakes import fake_connector, teams  # noqa: F401  (fixtures)
