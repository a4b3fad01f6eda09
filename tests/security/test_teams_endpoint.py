"""POST /api/messages (Teams): who may drive it, where its answers may go, what it parses.

Local/emulator mode has no authentication, so it must take requests only from this machine and
answer only at a loopback service URL, as the SDK's HTTP client (requests and urllib3) will
read that URL. With credentials, every request carries a Bot Framework JWT (RS256, signed by
Microsoft); anything else is a 401 before the activity matters.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

import jwt
import pytest
from sqlalchemy import func, select

from bot.core.messages import Reply
from bot.delivery import recall_reference
from storage.models import ConversationRef
from tests.adapters.teams_fakes import APP_ID, TeamsTestbed, message

ANN = "29:ann"


def post_raw(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def remembered(services: Any) -> int:
    with services.db.read() as session:
        return session.scalar(select(func.count()).select_from(ConversationRef))


# --- local/emulator mode: the service URL ---------------------------------------------------

DECEPTIVE_SERVICE_URLS = [
    # urllib.parse sees 127.0.0.1 after the backslash-userinfo; urllib3 connects to evil.example
    "http://evil.example:80\\@127.0.0.1:{port}/",
    "http://evil.example\\@127.0.0.1:{port}/",
    "http://user:secret@127.0.0.1:{port}/",
    "http://127.0.0.1%2e:{port}/",
    "http://127.0.0.1:{port}%2f@evil.example/",
    "http://127.1:{port}/",
    "http://0x7f000001:{port}/",
    "http://localhost.evil.example:{port}/",
    "ftp://127.0.0.1:{port}/",
    "http://127.0.0.1:{port}/\\evil",
    "http://127.0.0.1:{port}/%2e%2e/",
    " http://127.0.0.1:{port}/",
    "http://127.0.0.1:{port}/\t",
]


@pytest.mark.parametrize("template", DECEPTIVE_SERVICE_URLS)
def test_local_mode_refuses_a_service_url_the_sender_would_read_differently(teams, org, template):
    """Threat: a web page or local process makes local mode send Ann's balance (and later a
    manager's approval card) to another host, with a serviceUrl that urllib.parse calls
    loopback but urllib3, which the SDK sends with, does not (userinfo, backslash, odd
    encodings). Only a canonical loopback URL is taken."""
    service_url = template.format(port=teams.fake.port)
    sent = teams.post(message(service_url, ANN, "balance"))
    assert sent.status == 401
    assert teams.fake.calls == []
    assert remembered(teams.services) == 0


@pytest.mark.parametrize(
    "template",
    ["http://127.0.0.1:{port}/", "http://localhost:{port}/"],
)
def test_local_mode_answers_at_a_canonical_loopback_service_url(teams, org, template):
    """Threat (the other side): refusing the Emulator itself would push developers to run with
    fake credentials; canonical loopback URLs keep working."""
    service_url = template.format(port=teams.fake.port)
    assert teams.post(message(service_url, ANN, "help")).status == 201
    assert teams.fake.messages()


def test_local_mode_never_sends_to_a_non_loopback_url_remembered_before_the_rule(teams, org):
    """Threat: a conversation remembered (before this rule) with a deceptive service URL keeps
    carrying Ann's private answers off the machine; delivery checks the URL again."""
    ann = org["ann@acme.test"]
    reference = message(teams.fake.service_url, ANN, "help")
    teams.post(reference)
    teams.fake.clear()
    remembered_ref = recall_reference(teams.services, "teams", f"person:{ann.id}")
    remembered_ref["serviceUrl"] = f"http://evil.example\\@127.0.0.1:{teams.fake.port}/"
    teams.deliverer.remember_person(ann.id, remembered_ref)
    assert teams.deliverer.send(ann.id, Reply("internal_error", {"error_id": "x"})) is False
    assert teams.fake.messages() == []


@pytest.mark.parametrize(
    "content_type",
    ["text/plain;application/json", "text/plain", "application/x-www-form-urlencoded", ""],
)
def test_local_mode_takes_only_an_application_json_body(teams, org, content_type):
    """Threat: a web page in the developer's browser drives local mode with a CORS-safelisted
    content type (no preflight), e.g. `text/plain;application/json`."""
    body = json.dumps(message(teams.fake.service_url, ANN, "balance")).encode()
    status = post_raw(teams.url, body, {"Content-Type": content_type} if content_type else {})
    assert status == 415
    assert teams.fake.calls == []


def test_local_mode_still_takes_json_with_a_charset(teams, org):
    """The Bot Framework sends `application/json; charset=utf-8`."""
    body = json.dumps(message(teams.fake.service_url, ANN, "help")).encode()
    status = post_raw(teams.url, body, {"Content-Type": "application/json; charset=utf-8"})
    assert status == 201


@pytest.mark.parametrize("body", [b"null", b"[]", b"42", b'"activity"', b"{}"])
def test_json_that_is_not_an_activity_is_a_400_not_a_500(teams, org, body):
    """Threat: a body that is valid JSON but no activity object (found by the fuzz suite:
    `null` crashed the handler with a 500 and an ERROR trace)."""
    status = post_raw(teams.url, body, {"Content-Type": "application/json"})
    assert status == 400
    assert teams.fake.calls == []


# --- with credentials: the token ------------------------------------------------------------


@pytest.fixture
def teams_with_credentials(services, fake_connector):
    testbed = TeamsTestbed(services, fake_connector, credentials=True).start()
    try:
        yield testbed
    finally:
        testbed.stop()


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(service_url: str) -> dict[str, Any]:
    return {
        "iss": "https://api.botframework.com",
        "aud": APP_ID,
        "serviceurl": service_url,
        "exp": 4102444800,
        "nbf": 1700000000,
    }


def unsigned_token(service_url: str) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(service_url))}."


def hs256_token(service_url: str) -> str:
    # HS256 "signed" with a guessable key, carrying a key id as a real token would
    return jwt.encode(
        _claims(service_url), "x" * 32, algorithm="HS256", headers={"kid": "some-key"}
    )


@pytest.mark.parametrize("make_token", [unsigned_token, hs256_token], ids=["alg none", "HS256"])
def test_with_credentials_an_unsigned_or_symmetric_token_is_a_401_not_a_503(
    teams_with_credentials, org, make_token, caplog
):
    """Threat: a token with `alg: none` or HS256 (algorithm confusion) reaches the SDK's key
    lookup; today that fails as 'unavailable' (503 and an ERROR trace per request, a cheap
    way to flood the log). It is refused as unauthenticated without any key lookup."""
    service_url = teams_with_credentials.fake.service_url
    activity = message(service_url, ANN, "balance")
    sent = teams_with_credentials.post(
        activity, headers={"Authorization": f"Bearer {make_token(service_url)}"}
    )
    assert sent.status == 401
    assert teams_with_credentials.fake.calls == []
    assert "Traceback" not in caplog.text


def test_with_credentials_deep_json_is_not_parsed_before_the_token_is_checked(
    teams_with_credentials, org
):
    """Threat: an unauthenticated sender makes the server parse a 50,000-deep JSON document
    (recursion, CPU) before anyone checks who sent it."""
    body = b'{"type": "message", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    status = post_raw(teams_with_credentials.url, body, {"Content-Type": "application/json"})
    assert status == 401
