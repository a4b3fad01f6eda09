"""The example LiteLLM hook in the real LiteLLM proxy, driven with the official `openai` client
(and plain HTTP for Anthropic's /v1/messages), in front of a real `tokenbot serve`.

What a call is recorded as is checked in tokenbot's database; which id LiteLLM gives the call
in LiteLLM_SpendLogs comes from LiteLLM's own get_logging_payload (spend_log_recorder.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import openai
import pytest
from sqlalchemy import select

from bot.core import prompt_text
from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingMessage
from budgets.directory import add_alias, find_person
from budgets.ledger import verify
from ingest.events import stored_id
from scoring import template_library as library
from scoring.config import scoring_settings
from storage.models import Person, UsageEvent
from tests.gateway.conftest import (
    CHAT_GROUP,
    EMBEDDING_GROUP,
    IMAGE_GROUP,
    MASTER_KEY,
    ROOT,
    FakeTokenbot,
    LiteLLMProxy,
    Tokenbot,
    wait_for,
)

pytestmark = pytest.mark.gateway

HELLO = [{"role": "user", "content": "Say hello."}]
PROHIBITED = 'The use case "personal" is prohibited.'


def api(proxy: LiteLLMProxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.url}/v1", api_key=MASTER_KEY, max_retries=0, timeout=30)


def anthropic_messages(
    proxy: LiteLLMProxy, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """POST /v1/messages as an Anthropic client does: (status, headers, JSON body)."""
    request = urllib.request.Request(
        f"{proxy.url}/v1/messages",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {MASTER_KEY}",
            "Content-Type": "application/json",
            "anthropic-version": "2023-06-01",
            **(headers or {}),
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def person_id(tokenbot: Tokenbot, email: str) -> int:
    with tokenbot.services.db.read() as session:
        return session.scalar(select(Person.id).where(Person.email == email))


def hook_id(proxy: LiteLLMProxy, call_id: str) -> str:
    """The id the hook must post for a call: "litellm:" + its spend-log request_id, as stored."""
    return stored_id("litellm:" + proxy.spend_log_of(call_id)["request_id"])


def sentinel(proxy: LiteLLMProxy, tokenbot: Tokenbot) -> None:
    """One more call, waited for: usage posted before it has been delivered by then (the spool
    is sent oldest first)."""
    raw = api(proxy).chat.completions.with_raw_response.create(
        model=CHAT_GROUP, messages=HELLO, user="ann@acme.test"
    )
    tokenbot.wait_for_usage(hook_id(proxy, raw.headers["x-litellm-call-id"]))


# --- what each call type is recorded as -------------------------------------------------------


def test_every_call_type_is_authorized_and_recorded_under_its_spend_log_request_id(proxy, tokenbot):
    claude_code_user = f"user_{'ab' * 32}_account_{uuid.uuid4()}"
    claude_code_session = str(uuid.uuid4())
    with tokenbot.services.db.unit_of_work() as uow:
        add_alias(uow.session, claude_code_user, "bob@acme.test")
        uow.commit()
    client = api(proxy)

    chat = client.chat.completions.with_raw_response.create(
        model=CHAT_GROUP,
        messages=HELLO,
        user="ann@acme.test",
        max_completion_tokens=200,
        metadata={"use_case": "coding"},
        extra_body={"tags": ["project:relaunch"], "litellm_session_id": "conv-chat"},
    )
    text = client.completions.with_raw_response.create(
        model=CHAT_GROUP,
        prompt="Write a tagline for a bakery.",
        user="bob@acme.test",
        max_tokens=30,
        extra_body={"metadata": {"use_case": "ad-copy"}},
    )
    responses = client.responses.with_raw_response.create(
        model=CHAT_GROUP,
        input="Draft a brief about sourdough.",
        user="ann@acme.test",
        max_output_tokens=300,
        metadata={"use_case": "seo-brief", "project": "relaunch"},
        extra_headers={"x-litellm-session-id": "conv-brief"},
    )
    # LiteLLM's mock answers every /v1/messages call with the same message id (a real provider
    # does not), so one such call per run is metered: its spend-log request_id is that id.
    status, messages_headers, _ = anthropic_messages(
        proxy,
        {
            "model": CHAT_GROUP,
            "max_tokens": 256,
            "messages": HELLO,
            "metadata": {"user_id": f"{claude_code_user}_session_{claude_code_session}"},
        },
        {"x-litellm-tags": "use_case:coding,project:claude-rollout"},
    )
    assert status == 200
    embeddings = client.embeddings.with_raw_response.create(
        model=EMBEDDING_GROUP,
        input="Quarterly revenue by region",
        user="ann@acme.test",
        extra_body={"metadata": {"use_case": "data-analysis"}},
    )
    streamed = client.chat.completions.with_raw_response.create(
        model=CHAT_GROUP,
        messages=HELLO,
        user="bob@acme.test",
        stream=True,
        stream_options={"include_usage": True},
        extra_body={
            "metadata": {"use_case": "security-review", "conversation_id": "ticket-7"},
            "litellm_session_id": "a-session-our-own-conversation-id-overrides",
        },
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)

    # (call id, model group, person, use case, project, conversation)
    expected = {
        "chat": (chat, CHAT_GROUP, "ann@acme.test", "coding", "relaunch", "conv-chat"),
        "text": (text, CHAT_GROUP, "bob@acme.test", "ad-copy", None, None),
        "responses": (
            responses,
            CHAT_GROUP,
            "ann@acme.test",
            "seo-brief",
            "relaunch",
            "conv-brief",
        ),
        "messages": (
            messages_headers,
            CHAT_GROUP,
            claude_code_user,
            "coding",
            "claude-rollout",
            claude_code_session,
        ),
        "embeddings": (embeddings, EMBEDDING_GROUP, "ann@acme.test", "data-analysis", None, None),
        "streamed": (streamed, CHAT_GROUP, "bob@acme.test", "security-review", None, "ticket-7"),
    }
    call_ids = {
        name: (raw if isinstance(raw, dict) else raw.headers)["x-litellm-call-id"]
        for name, (raw, *_) in expected.items()
    }
    spend_logs = {name: proxy.spend_log_of(call_id) for name, call_id in call_ids.items()}
    ids = {name: stored_id("litellm:" + log["request_id"]) for name, log in spend_logs.items()}
    rows = tokenbot.wait_for_usage(*ids.values())

    # The id rule on the two shapes that matter: a chat id, and a Responses API id of about
    # 470 characters that tokenbot keeps hashed.
    chat_response, responses_response = chat.parse(), responses.parse()
    assert spend_logs["chat"]["request_id"] == chat_response.id
    assert rows[ids["chat"]].id == f"litellm:{chat_response.id}"
    assert spend_logs["responses"]["request_id"] == responses_response.id
    assert len(responses_response.id) > 200
    assert rows[ids["responses"]].id == stored_id(f"litellm:{responses_response.id}")
    assert spend_logs["embeddings"]["request_id"] == call_ids["embeddings"]  # no response id

    for name, (_, group, person, use_case, project, conversation) in expected.items():
        row, log = rows[ids[name]], spend_logs[name]
        assert row.model == group, name
        assert row.identity == person, name
        email = "bob@acme.test" if person == claude_code_user else person
        assert row.person_id == person_id(tokenbot, email), name
        assert (row.use_case, row.project, row.conversation_id) == (
            use_case,
            project,
            conversation,
        ), name
        assert (row.input_tokens, row.output_tokens) == (
            log["prompt_tokens"],
            log["completion_tokens"],
        ), name
        assert row.input_tokens > 0, name

    # Importing LiteLLM's spend logs of the same calls (after an outage, say) adds nothing.
    export = proxy.workdir / "spend-logs-export.jsonl"
    export.write_text("".join(json.dumps(log) + "\n" for log in spend_logs.values()))
    imported = subprocess.run(
        [sys.executable, "-m", "bot.cli", "import", "--format", "litellm", str(export)],
        env={**tokenbot.server.env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert re.search(r"\b0 usage events recorded, 6 duplicates", imported.stdout), imported.stdout


def test_a_proxy_cache_hit_is_not_debited(proxy, tokenbot):
    client = api(proxy)
    question = [{"role": "user", "content": f"What is {uuid.uuid4()}?"}]
    calls = [
        client.chat.completions.with_raw_response.create(
            model=CHAT_GROUP,
            messages=question,
            user="ann@acme.test",
            extra_body={"cache": {"use-cache": True}, "litellm_session_id": "conv-cached"},
        )
        for _ in range(2)
    ]
    first, second = (proxy.spend_log_of(raw.headers["x-litellm-call-id"]) for raw in calls)
    assert first["cache_hit"] != "True"
    assert second["cache_hit"] == "True"  # LiteLLM's spend log marks the hit
    sentinel(proxy, tokenbot)

    with tokenbot.services.db.read() as session:
        cached = session.scalars(
            select(UsageEvent.id).where(UsageEvent.conversation_id == "conv-cached")
        ).all()
    assert cached == [f"litellm:{first['request_id']}"]
    assert proxy.spooled() == []


# --- refusals ---------------------------------------------------------------------------------


def test_a_prohibited_use_case_is_refused_with_tokenbot_s_reason_on_every_endpoint(proxy, tokenbot):
    client = api(proxy)
    before = tokenbot.usage_count()

    with pytest.raises(openai.PermissionDeniedError) as chat:
        client.chat.completions.create(
            model=CHAT_GROUP,
            messages=HELLO,
            user="ann@acme.test",
            metadata={"use_case": "personal"},
        )
    with pytest.raises(openai.PermissionDeniedError) as responses:
        client.responses.create(
            model=CHAT_GROUP,
            input="Plan my holiday",
            user="ann@acme.test",
            metadata={"use_case": "personal"},
        )
    with pytest.raises(openai.PermissionDeniedError) as text:
        client.completions.create(
            model=CHAT_GROUP,
            prompt="My shopping list:",
            user="ann@acme.test",
            extra_body={"metadata": {"use_case": "personal"}},
        )
    with pytest.raises(openai.PermissionDeniedError) as embeddings:
        client.embeddings.create(
            model=EMBEDDING_GROUP,
            input="my recipes",
            user="ann@acme.test",
            extra_body={"tags": ["use_case:personal"]},
        )
    with pytest.raises(openai.PermissionDeniedError) as images:  # authorized, not metered
        client.images.generate(
            model=IMAGE_GROUP,
            prompt="A birthday card for my aunt",
            user="ann@acme.test",
            extra_body={"metadata": {"use_case": "personal"}},
        )
    status, _, messages = anthropic_messages(
        proxy,
        {
            "model": CHAT_GROUP,
            "max_tokens": 64,
            "messages": HELLO,
            "metadata": {"user_id": "ann@acme.test"},
        },
        {"x-litellm-tags": "use_case:personal"},
    )
    for refused in (chat, responses, text, embeddings, images):
        assert refused.value.status_code == 403
        assert PROHIBITED in str(refused.value)
    assert status == 403
    assert messages["error"]["type"] == "permission_error"  # in Anthropic's own error shape
    assert PROHIBITED in messages["error"]["message"]

    sentinel(proxy, tokenbot)
    assert tokenbot.usage_count() == before + 1  # the sentinel alone


def test_an_allowed_image_generation_is_not_metered(proxy, tokenbot):
    before = tokenbot.usage_count()
    generated = api(proxy).images.generate(
        model=IMAGE_GROUP,
        prompt="A banner for the bakery",
        user="ann@acme.test",
        extra_body={"metadata": {"use_case": "ad-copy"}},
    )
    assert generated.data[0].url
    sentinel(proxy, tokenbot)
    assert tokenbot.usage_count() == before + 1  # the sentinel alone: tokenbot meters tokens


def test_the_output_a_request_allows_counts_in_its_estimate(proxy, tokenbot):
    """More output than the person's budget allows (max_completion_tokens, max_output_tokens,
    max_tokens) is refused before the model is called, with the estimate in the reason."""
    limit = 90_000_000
    client = api(proxy)
    with pytest.raises(openai.PermissionDeniedError) as chat:
        client.chat.completions.create(
            model=CHAT_GROUP, messages=HELLO, user="ann@acme.test", max_completion_tokens=limit
        )
    with pytest.raises(openai.PermissionDeniedError) as responses:
        client.responses.create(
            model=CHAT_GROUP, input="Hello", user="ann@acme.test", max_output_tokens=limit
        )
    status, _, messages = anthropic_messages(
        proxy,
        {
            "model": CHAT_GROUP,
            "max_tokens": limit,
            "messages": HELLO,
            "metadata": {"user_id": "ann@acme.test"},
        },
    )
    assert status == 403
    for reason in (str(chat.value), str(responses.value), messages["error"]["message"]):
        estimate = re.search(r"[Aa]bout ([\d,]+) budget tokens are needed", reason)
        assert estimate, reason
        assert int(estimate[1].replace(",", "")) >= limit


# --- tokenbot down, the proxy crashing --------------------------------------------------------


def test_usage_made_while_tokenbot_is_down_arrives_once_after_it_is_back_even_across_a_proxy_crash(
    proxy, tokenbot
):
    tokenbot.server.stop()
    client = api(proxy)
    during = [
        client.chat.completions.with_raw_response.create(
            model=CHAT_GROUP,
            messages=HELLO,
            user="ann@acme.test",
            metadata={"use_case": "coding"},
            extra_body={"litellm_session_id": "conv-outage"},
        ),
        client.responses.with_raw_response.create(
            model=CHAT_GROUP,
            input="Hello",
            safety_identifier="bob@acme.test",  # what newer clients send instead of `user`
            metadata={"use_case": "research"},
        ),
    ]  # allowed: TOKENBOT_FAIL_OPEN is on by default
    ids = [hook_id(proxy, raw.headers["x-litellm-call-id"]) for raw in during]
    wait_for(
        lambda: {stored_id(e["id"]) for e in proxy.spooled()} >= set(ids),
        "the usage to be spooled",
    )
    assert re.search(r"tokenbot:WARNING: .* the call goes through \(fail open\)", proxy.output())

    proxy.kill()  # whatever the proxy held only in memory is gone
    tokenbot.server.start()
    proxy.start()  # no new call: the spool is sent as soon as the hook is loaded

    rows = tokenbot.wait_for_usage(*ids)
    assert [rows[i].model for i in ids] == [CHAT_GROUP, CHAT_GROUP]
    assert [rows[i].person_id for i in ids] == [
        person_id(tokenbot, "ann@acme.test"),
        person_id(tokenbot, "bob@acme.test"),
    ]
    assert (rows[ids[0]].use_case, rows[ids[0]].conversation_id) == ("coding", "conv-outage")
    assert (rows[ids[1]].identity, rows[ids[1]].use_case) == ("bob@acme.test", "research")
    wait_for(lambda: proxy.spooled() == [], "the spool to empty")
    sentinel(proxy, tokenbot)
    assert tokenbot.usage(*ids).keys() == set(ids)
    with tokenbot.services.db.read() as session:
        assert verify(session) == []


# --- tokenbot's answers: Retry-After, invalid events, fail closed, a wrong key ------------------


def test_delivery_honours_retry_after_keeps_invalid_events_aside_and_can_fail_closed(
    proxies, fake_tokenbot
):
    proxy = proxies.fail_closed  # TOKENBOT_FAIL_OPEN=false, in front of FakeTokenbot
    client = api(proxy)

    client.chat.completions.create(model=CHAT_GROUP, messages=HELLO, user="ann@acme.test")

    def sent_twice() -> list[float] | None:
        times = fake_tokenbot.delivered("ann@acme.test")
        return times[:2] if len(times) >= 2 else None

    first, second = wait_for(sent_twice, "the usage to be sent twice")
    assert second - first >= FakeTokenbot.RETRY_AFTER - 0.1  # not the 0.2 s backoff
    wait_for(lambda: proxy.spooled() == [], "the spool to empty")

    with pytest.raises(openai.APIStatusError) as closed:
        client.chat.completions.create(model=CHAT_GROUP, messages=HELLO, user="closed@acme.test")
    assert closed.value.status_code == 503
    assert "the token budget check is unavailable" in str(closed.value)

    client.chat.completions.create(model=CHAT_GROUP, messages=HELLO, user="invalid@acme.test")
    rejected = wait_for(
        lambda: [event["user"] for event in proxy.spooled("rejected")],
        "the invalid event to be set aside",
    )
    assert rejected == ["invalid@acme.test"]
    assert proxy.spooled() == []
    assert re.search(r"tokenbot:ERROR: .* tokenbot rejected usage event", proxy.output())
    prompt = HELLO[0]["content"].encode()
    assert fake_tokenbot.bodies and not any(prompt in body for body in fake_tokenbot.bodies)


def test_a_wrong_tokenbot_key_refuses_every_call_even_when_failing_open(proxies, tokenbot):
    proxy = proxies.wrong_key  # TOKENBOT_FAIL_OPEN left at its default, true
    before = tokenbot.usage_count()
    with pytest.raises(openai.APIStatusError) as refused:
        api(proxy).chat.completions.create(model=CHAT_GROUP, messages=HELLO, user="ann@acme.test")
    assert refused.value.status_code == 503
    assert "misconfigured" in str(refused.value)
    assert re.search(r"tokenbot:ERROR: .* tokenbot refused the gateway's API key", proxy.output())
    assert proxy.spend_logs() == []  # the model was never called
    assert tokenbot.usage_count() == before


# --- prompt templates filled in at the gateway --------------------------------------------------

BRIEF = "Write an SEO brief about {{ topic }} for the keyword {{ keyword }}."
BRIEF_VALUES = {"topic": "trail shoes", "keyword": "trail running shoes"}
FILLED_BRIEF = "Write an SEO brief about trail shoes for the keyword trail running shoes."


def approved_template(tokenbot: Tokenbot, template_id: str, author: str) -> None:
    """An seo-brief template with BRIEF as its text, by `author`, approved by an admin."""
    checked = prompt_text.check(BRIEF)
    draft = library.Draft(
        template_id, f"Brief {template_id}", "seo-brief", "", BRIEF, checked.variables
    )
    with tokenbot.services.db.unit_of_work() as uow:
        person = find_person(uow.session, author)
        library.propose(
            uow.session,
            tokenbot.services.policy,
            draft,
            person,
            datetime.now(UTC),
            approved_by="ceo@acme.test",
        )
        uow.commit()


def templated_chat(proxy: LiteLLMProxy, template_id: str, variables: object, **more: Any) -> Any:
    return api(proxy).chat.completions.with_raw_response.create(
        model=CHAT_GROUP,
        messages=[{"role": "system", "content": "Answer in one line."}],
        user="bob@acme.test",
        metadata={
            "use_case": "seo-brief",
            "template_id": template_id,
            "template_variables": variables,
        },
        **more,
    )


def test_a_template_named_in_the_metadata_is_filled_in_as_the_last_user_turn_and_its_usage_names_it(
    proxy, tokenbot
):
    approved_template(tokenbot, "brief-prefill", "ann@acme.test")
    chat = templated_chat(proxy, "brief-prefill", BRIEF_VALUES)
    call_id = chat.headers["x-litellm-call-id"]
    assert proxy.prompt_of(call_id) == [
        {"role": "system", "content": "Answer in one line."},
        {"role": "user", "content": FILLED_BRIEF},
    ]
    # OpenAI's metadata takes strings: the variables may come as one JSON string, too. (LiteLLM's
    # mock answers a Responses API call before it logs the input, so only the tag is seen here.)
    responses = api(proxy).responses.with_raw_response.create(
        model=CHAT_GROUP,
        input="Keep it short.",
        user="bob@acme.test",
        metadata={"template_id": "brief-prefill", "template_variables": json.dumps(BRIEF_VALUES)},
    )
    ids = [hook_id(proxy, raw.headers["x-litellm-call-id"]) for raw in (chat, responses)]
    rows = tokenbot.wait_for_usage(*ids)
    assert [rows[i].template_id for i in ids] == ["brief-prefill", "brief-prefill"]
    assert rows[ids[0]].use_case == "seo-brief"
    # The values are the client's text: gone from the metadata LiteLLM logs and forwards.
    assert "trail running shoes" not in json.dumps(proxy.spend_log_of(call_id))


def test_a_retired_or_unknown_template_or_a_missing_variable_refuses_the_call_naming_it(
    proxy, tokenbot
):
    approved_template(tokenbot, "brief-retiring", "ann@acme.test")
    with tokenbot.services.db.unit_of_work() as uow:
        library.retire(
            uow.session, tokenbot.services.policy, "brief-retiring", None, datetime.now(UTC)
        )
        uow.commit()
    approved_template(tokenbot, "brief-strict", "ann@acme.test")
    before, calls = tokenbot.usage_count(), len(proxy.spend_logs())

    with pytest.raises(openai.APIStatusError) as retired:
        templated_chat(proxy, "brief-retiring", BRIEF_VALUES)
    with pytest.raises(openai.NotFoundError) as unknown:
        templated_chat(proxy, "brief-nobody-wrote", BRIEF_VALUES)
    with pytest.raises(openai.UnprocessableEntityError) as missing:
        templated_chat(proxy, "brief-strict", {"topic": "trail shoes"})
    with pytest.raises(openai.BadRequestError) as no_id:
        api(proxy).chat.completions.create(
            model=CHAT_GROUP,
            messages=HELLO,
            user="bob@acme.test",
            metadata={"template_variables": {"topic": "shoes"}},
        )

    # /v1/messages: Anthropic's `metadata` takes user_id only, so LiteLLM's own metadata
    status, _, messages = anthropic_messages(
        proxy,
        {
            "model": CHAT_GROUP,
            "max_tokens": 64,
            "messages": HELLO,
            "metadata": {"user_id": "bob@acme.test"},
            "litellm_metadata": {
                "template_id": "brief-retiring",
                "template_variables": BRIEF_VALUES,
            },
        },
    )

    assert (status, retired.value.status_code) == (410, 410)
    assert "template 'brief-retiring' is retired" in messages["error"]["message"]
    assert "template 'brief-retiring' is retired" in str(retired.value)
    assert "there is no template 'brief-nobody-wrote'" in str(unknown.value)
    assert "prompt template 'brief-strict': give a value for `keyword`" in str(missing.value)
    assert "template_variables needs a template_id" in str(no_id.value)
    assert len(proxy.spend_logs()) == calls  # the model was never called
    sentinel(proxy, tokenbot)
    assert tokenbot.usage_count() == before + 1  # the sentinel alone


def test_colleagues_accepted_work_through_a_gateway_template_credits_its_author_on_the_leaderboard(
    proxy, tokenbot
):
    approved_template(tokenbot, "brief-reused", "ann@acme.test")
    call = templated_chat(proxy, "brief-reused", BRIEF_VALUES)  # bob, through the gateway
    usage_id = hook_id(proxy, call.headers["x-litellm-call-id"])
    tokenbot.wait_for_usage(usage_id)
    now = datetime.now(UTC).isoformat()
    reused = {
        "id": f"out-{uuid.uuid4()}",
        "user": "bob@acme.test",
        "artifact_id": "brief-trail-shoes",
        "status": "accepted",
        "usage_ids": [usage_id],  # no use case, no template: both come from the usage
        "timestamp": now,
    }
    # Recognition needs the author's own artifacts in the window too ([scoring] min_tasks).
    own = [
        {
            "id": f"out-{uuid.uuid4()}",
            "user": "ann@acme.test",
            "artifact_id": f"brief-ann-{n}",
            "use_case": "seo-brief",
            "status": "accepted",
            "timestamp": now,
        }
        for n in range(scoring_settings(tokenbot.services.policy).min_tasks)
    ]
    request = urllib.request.Request(
        f"{tokenbot.url}/api/v1/outcomes",
        data=json.dumps({"outcomes": [reused, *own]}).encode(),
        headers={"Authorization": f"Bearer {tokenbot.api_key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["recorded"] == 1 + len(own)

    services = tokenbot.services
    reply = Dispatcher(services).handle_message(
        IncomingMessage("console", "mia@acme.test", "leaderboard workflow-builder --period")
    )
    text = services.renderer.text(reply)
    assert "Reusable workflow builder:" in text, text
    credited = text.split("Reusable workflow builder:", 1)[1]
    assert "Gold: Ann Analyst (Marketing)" in credited, text
    assert "1 accepted artifact by 1 colleague with Brief brief-reused" in credited, text
