"""The fake Slack itself answers the Web API calls other tests rely on as Slack does, so a
test that passes against it exercises the real client code paths (slack_sdk)."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.adapters.slack_fakes import BOT_TOKEN, GENERAL, FakeSlack, sign


def client(fake: FakeSlack, token: str = BOT_TOKEN) -> WebClient:
    return WebClient(token=token, base_url=fake.api_url)


def test_a_file_upload_goes_through_the_three_upload_steps(fake_slack):
    uploaded = client(fake_slack).files_upload_v2(
        channel=GENERAL, content=b"\x89PNG chart", filename="review.png", title="November review"
    )
    assert uploaded["ok"] is True
    assert [c.method for c in fake_slack.calls] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    assert fake_slack.calls_to("upload")[0]["bytes"] == len(b"\x89PNG chart")
    assert fake_slack.calls_to("files.completeUploadExternal")[0]["channel_id"] == GENERAL


def test_users_info_answers_with_the_email_or_user_not_found(fake_slack):
    fake_slack.add_user("U0ANN", "ann@acme.test", "Ann Analyst")
    web = client(fake_slack)
    assert web.users_info(user="U0ANN")["user"]["profile"]["email"] == "ann@acme.test"
    with pytest.raises(SlackApiError) as failed:
        web.users_info(user="U0NOBODY")
    assert failed.value.response["error"] == "user_not_found"


def test_a_wrong_token_and_an_injected_failure_are_answered_as_errors(fake_slack):
    with pytest.raises(SlackApiError, match="invalid_auth"):
        client(fake_slack, token="xoxb-wrong").auth_test()
    fake_slack.fail("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError, match="channel_not_found"):
        client(fake_slack).chat_postMessage(channel="C0GONE", text="hello")
    posted = client(fake_slack).chat_postMessage(channel=GENERAL, text="hello")
    assert posted["channel"] == GENERAL and posted["ts"]
    assert fake_slack.calls_to("chat.postMessage")[-1].response["ts"] == posted["ts"]


def test_the_signature_is_slacks_documented_example():
    # https://docs.slack.dev/authentication/verifying-requests-from-slack/ (the worked example)
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfm"
        "ibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = sign(body, "8f742231b10e8888abcd99yyyzzz85a5", 1531420618)
    assert headers["X-Slack-Signature"] == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )
