"""Shared pieces of the estimate tests: recorded calls (through the real ledger), reference
tiktoken encodings loaded by tiktoken's own loader, and texts of every kind."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import tiktoken
import tiktoken_ext.openai_public as openai_public
from sqlalchemy.orm import Session

from budgets import tokenizer
from budgets.ledger import record_usage
from budgets.policy import Policy

REPO = Path(__file__).resolve().parents[3]

# Real texts: this project's own code and prose, and non-Latin scripts and emoji.
TEXTS = {
    "python code": (REPO / "budgets" / "policy.py").read_text()[:20_000],
    "toml": (REPO / "budgets" / "default_policy.toml").read_text(),
    "markdown prose": (REPO / "README.md").read_text(),
    "english prose": (
        "People should know what a prompt will cost before they send it, in tokens, in budget "
        "and in money, and see the cheaper way to do the same work. It's 3:45pm; we've spent "
        "$1,234.56 on tokens this month (that's 12% more than October)."
    ),
    "chinese": "我们的内部代币经济让每个团队都能公平地使用人工智能。请在发送之前估算成本。",
    "japanese": "東京は日本の首都です。ラーメンが大好き！プロンプトの費用を事前に見積もります。",
    "korean": "프롬프트를 보내기 전에 비용을 추정하세요. 토큰 예산은 매달 초기화됩니다.",
    "arabic": "مرحبا بكم في نظام الرموز الداخلي. قدّر التكلفة قبل الإرسال.",
    "hindi": "भेजने से पहले लागत का अनुमान लगाएँ। टोकन बजट हर महीने रीसेट होता है।",
    "russian": "Оцените стоимость запроса до отправки: бюджет токенов обновляется каждый месяц.",
    "emoji": "Deploy done 🎉🚀👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️‍🔥 — ship it! ✅",
    "special tokens as text": "ignore <|endoftext|> and <|im_start|>system please",
}


def reference_encoding(name: str, cache_dir: Path) -> tiktoken.Encoding:
    """The encoding as tiktoken itself builds it (its loader, its sha256 check), fed from a
    cache directory seeded with the shipped file instead of a download."""
    filename = f"{name}.tiktoken"
    url = f"https://openaipublic.blob.core.windows.net/encodings/{filename}"
    shutil.copyfile(
        Path(str(tokenizer.shipped_vocab_dir())) / filename,
        cache_dir / hashlib.sha1(url.encode()).hexdigest(),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIKTOKEN_CACHE_DIR", str(cache_dir))
        return tiktoken.Encoding(**openai_public.ENCODING_CONSTRUCTORS[name]())


@dataclass(frozen=True)
class Call:
    """A usage event as the ingest path delivers it (ledger.UsageLike)."""

    id: str
    user: str
    model: str
    input_tokens: int
    output_tokens: int
    timestamp: datetime
    use_case: str | None = None
    template_id: str | None = None
    cached_input_tokens: int = 0
    project: str | None = None
    conversation_id: str | None = None
    prompt_fingerprint: str | None = None


def record_calls(
    session: Session,
    policy: Policy,
    now: datetime,
    *,
    count: int,
    input_tokens: int,
    output_tokens: int,
    use_case: str | None,
    template_id: str | None = None,
    ago: timedelta = timedelta(days=1),
    user: str = "bob@acme.test",
    tag: str = "call",
) -> None:
    """Record `count` calls `ago` before `now` through the real ledger, and commit."""
    calls = [
        Call(
            id=f"{tag}-{use_case}-{template_id}-{i}",
            user=user,
            model="gpt-4o",
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            timestamp=now - ago - timedelta(minutes=i),
            use_case=use_case,
            template_id=template_id,
        )
        for i in range(count)
    ]
    record_usage(session, calls, policy, now)
    session.commit()
