"""Adapter tests drive tokenbot over its real wire protocols (see slack_fakes.py)."""

from tests.adapters.slack_fakes import fake_slack, slack  # noqa: F401  (fixtures)
