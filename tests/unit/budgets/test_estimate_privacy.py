"""budgets.estimate: sensitive text is flagged without being echoed, and estimates work with no
network at all (vocabularies come from the package, never from a download)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from budgets.estimate import estimate
from budgets.sensitive import SensitiveFinding
from budgets.tokenizer import load_encoding

SECRET_KEY = "sk-proj-Q7vX2mN9pL4kR8sT1wY6zA3bC5dE0fG"
CUSTOMER_EMAIL = "jane.customer@example.org"


@pytest.fixture
def ann(org):
    return org["ann@acme.test"]


def test_sensitive_text_is_flagged_by_kind_and_count_only(session, policy, ann, clock):
    text = f"Debug this: client = OpenAI(api_key='{SECRET_KEY}') for {CUSTOMER_EMAIL}"
    result = estimate(session, policy, ann, text, now=clock())

    assert result.sensitive == (SensitiveFinding("api_key", 1), SensitiveFinding("email", 1))
    assert result.redaction_rule == policy.estimate.redaction_rule
    assert SECRET_KEY not in repr(result)
    assert CUSTOMER_EMAIL not in repr(result)


def test_clean_text_has_no_warning(session, policy, ann, clock):
    assert (
        estimate(session, policy, ann, "Write a haiku about autumn.", now=clock()).sensitive == ()
    )


def test_secrets_in_chat_messages_are_flagged_too(session, policy, ann, clock):
    messages = [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": f"My card is 4111 1111 1111 1111, mail {CUSTOMER_EMAIL}"},
    ]
    kinds = {f.kind for f in estimate(session, policy, ann, messages, now=clock()).sensitive}
    assert kinds == {"card_number", "email"}


# --- offline ----------------------------------------------------------------------------------


def _refuse_network(*args: object, **kwargs: object) -> None:
    raise AssertionError("network access attempted")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No network, an empty tiktoken cache, and no vocabulary loaded yet in this process."""
    cache_dir = tmp_path / "empty-tiktoken-cache"
    cache_dir.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache_dir))
    monkeypatch.setattr(socket.socket, "connect", _refuse_network)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse_network)
    load_encoding.cache_clear()
    yield cache_dir
    load_encoding.cache_clear()


def test_estimates_work_with_networking_disabled_and_an_empty_cache(
    session, policy, ann, clock, offline
):
    with pytest.raises(AssertionError, match="network access attempted"):
        socket.create_connection(("openaipublic.blob.core.windows.net", 443))
    exact = estimate(session, policy, ann, "hello world", "gpt-4o", now=clock())
    proxy = estimate(session, policy, ann, "hello world", "claude-sonnet-4", now=clock())

    assert exact.model.input_tokens == 2
    assert proxy.model.input_tokens == 3  # 2 cl100k_base tokens x 1.15, rounded up
    assert list(offline.iterdir()) == [], "nothing may be written into tiktoken's cache"


def test_first_estimates_arriving_together_load_the_vocabulary_once(
    services, policy, org, clock, offline
):
    start = threading.Barrier(4)
    counts: list[int] = []

    def first_estimate() -> None:
        with services.db.read() as session:
            start.wait()
            result = estimate(session, policy, org["ann@acme.test"], "hello world", now=clock())
        counts.append(result.model.input_tokens)

    threads = [threading.Thread(target=first_estimate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert counts == [2, 2, 2, 2]
    assert load_encoding.cache_info().misses == 1  # o200k_base, loaded by one of the four
