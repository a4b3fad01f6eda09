"""Security tests drive tokenbot the way an attacker would: real servers on loopback, signed
and unsigned requests over real HTTP, the real test database. Each test's docstring names the
threat it covers."""

from tests.adapters.slack_fakes import fake_slack, slack  # noqa: F401  (fixtures)
from tests.adapters.teams_fakes import fake_connector, teams  # noqa: F401  (fixtures)
