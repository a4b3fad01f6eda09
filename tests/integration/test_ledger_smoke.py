from dataclasses import dataclass
from datetime import datetime

from budgets.ledger import record_usage, verify


@dataclass(frozen=True)
class Event:
    id: str
    user: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    timestamp: datetime
    use_case: str | None = "seo-brief"
    project: str | None = None
    template_id: str | None = None
    conversation_id: str | None = None
    prompt_fingerprint: str | None = None


def test_usage_recorded_twice_counts_once_and_ledger_verifies(services, org, clock):
    event = Event("e1", "ann@acme.test", "gpt-4o", 1000, 500, 0, clock())
    with services.db.unit_of_work() as uow:
        first = record_usage(uow.session, [event, event], services.policy, clock())
        uow.commit()
    with services.db.unit_of_work() as uow:
        second = record_usage(uow.session, [event], services.policy, clock())
        uow.commit()
        assert verify(uow.session) == []
    assert (first.recorded, first.duplicates) == (1, 1)
    assert (second.recorded, second.duplicates) == (0, 1)
