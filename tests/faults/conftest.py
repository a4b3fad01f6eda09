"""Fault tests drive real processes (and the Slack testbed) over loopback; see
benchmarks/faults.py, whose scenarios they run for seconds (the script runs them for minutes)."""

from tests.adapters.slack_fakes import fake_slack, slack  # noqa: F401  (fixtures)
