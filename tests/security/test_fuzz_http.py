"""Property-based fuzzing of every HTTP endpoint of the one aiohttp app: the usage API, Slack,
Teams (local mode), the dashboard and /healthz, over real HTTP.

Properties: whatever the method, path, headers, encoding or body, the answer is 2xx, 3xx or
4xx, never 5xx; nothing is stored (no request here is authenticated and valid); and the
server still answers /healthz at once afterwards. Sized to run in well under a minute.
"""

from __future__ import annotations

import http.client
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import row_counts

PATHS = [
    "/api/v1/usage",
    "/api/v1/outcomes",
    "/api/v1/authorize",
    "/slack/events",
    "/api/messages",
    "/healthz",
    "/dashboard",
    "/dashboard/sign-in",
    "/api/v1/nope",
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    "application/x-www-form-urlencoded",
    "text/plain;application/json",
    "multipart/form-data; boundary=x",
    "",
]
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["events", "outcomes", "user", "model", "type", "serviceUrl", "text", "id", "x"]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
bodies = st.one_of(
    st.binary(max_size=600),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b"payload=%7B%22type%22%3A%22block_actions%22%7D",
            b"command=%2Ftokens&text=balance&user_id=UANN",
            b'{"type": "url_verification", "challenge": "x"}',
            b'{"type": "message", "serviceUrl": "http://127.0.0.1:1/", "from": {"id": "29:x"}}',
            b"[" * 3000,
            b'{"events": [{"id": "\\ud800"}]}',
        ]
    ),
)


def request(port: int, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request(method, path, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def test_no_request_gets_a_5xx_or_stores_anything(slack, services, org):
    """Threat: any crash (500) is both a denial of service and a probe; anything stored from
    an unauthenticated request is a write path for strangers."""
    before = row_counts(services)
    port = slack.port

    @FUZZ
    @given(
        method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
        path=st.sampled_from(PATHS),
        content_type=st.sampled_from(CONTENT_TYPES),
        authorization=st.one_of(st.just(""), header_text, header_text.map(lambda t: f"Bearer {t}")),
        slack_timestamp=st.one_of(st.just(""), header_text, st.integers().map(str)),
        body=bodies,
    )
    def one_request(method, path, content_type, authorization, slack_timestamp, body):
        headers = {"Content-Type": content_type} if content_type else {}
        if authorization:
            headers["Authorization"] = authorization
        if slack_timestamp:
            headers["X-Slack-Request-Timestamp"] = slack_timestamp
            headers["X-Slack-Signature"] = "v0=" + "0" * 64
        status = request(port, method, path, headers, body)
        assert status < 500, (method, path, headers, body[:200])

    one_request()
    slack.drain()
    assert row_counts(services) == before
    assert request(port, "GET", "/healthz", {}, b"") == 200
