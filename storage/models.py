"""SQLAlchemy models: the facts tokenbot keeps and the projections derived from them.

Invariants:
- `LedgerEntry`, `UsageEvent`, `Outcome` and `AuditEntry` rows are append-only facts; nothing
  updates or deletes them, except that the `person_id` of unattributed usage and outcomes is set
  once (NULL -> a person) when an admin re-assigns the identity they came from.
- `GrantBalance`, `AccountTotal` and `UseCaseTotal` are projections of the ledger kept for O(1) reads;
  `budgets.verify.verify` rebuilds them from the facts and reports any difference.
- Token amounts are integers; money is integer micro-dollars (1 USD = 1,000,000).
- Every datetime is stored as UTC and read back timezone-aware.
- Prompt text is never stored: usage carries counts and, at most, a fingerprint.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    Unicode,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware datetimes on every backend (SQLite forgets offsets)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    @staticmethod
    def sqlite_text(value: datetime) -> str:
        """What binding `value` stores on SQLite (UTC, naive, `YYYY-MM-DD HH:MM:SS.ffffff`),
        in one C call instead of two processors: for bulk inserts of usage rows."""
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, int: BigInteger, dict[str, Any]: JSON}
    if TYPE_CHECKING:
        # Every model maps one Table; SQLAlchemy 2.1 types `__table__` as any FromClause,
        # which has no insert() and which update() does not take.
        __table__: ClassVar[Table]


# --- directory -----------------------------------------------------------------------------


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    roles: Mapped[str] = mapped_column(String(200), default="member")
    tier: Mapped[str] = mapped_column(String(100), default="default")
    slack_user_id: Mapped[str | None] = mapped_column(String(50), unique=True)
    teams_user_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    timezone: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    team: Mapped[Team | None] = relationship(lazy="joined")

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(r for r in self.roles.split(";") if r)

    def has_role(self, role: str) -> bool:
        return role in self.role_set


class IdentityAlias(Base):
    """Maps a provider identity (OpenAI user id, API key id, workspace id) to a person."""

    __tablename__ = "identity_aliases"
    alias: Mapped[str] = mapped_column(String(300), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    budget: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(20), default="open")


# --- ledger --------------------------------------------------------------------------------


class Grant(Base):
    """An allotment of budget tokens to an owner (person, team, project or the org)."""

    __tablename__ = "grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Makes issuing a grant retry-safe: the same key can never be granted twice.
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(
        String(20)
    )  # baseline team_pool project reserved burst manual
    token_class: Mapped[str] = mapped_column(String(20))  # operational exploration
    owner_type: Mapped[str] = mapped_column(String(10))  # person team project org
    owner_id: Mapped[int | None] = mapped_column(Integer)
    use_case: Mapped[str | None] = mapped_column(String(100))  # reserved pools only
    amount: Mapped[int] = mapped_column(BigInteger)
    period: Mapped[str] = mapped_column(String(20))
    effective_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    priority: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column()

    __table_args__ = (Index("ix_grants_owner", "owner_type", "owner_id", "expires_at"),)


class GrantBalance(Base):
    """Projection: what is left of a grant. amount = remaining + used + expired, always."""

    __tablename__ = "grant_balances"
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), primary_key=True)
    remaining: Mapped[int] = mapped_column(BigInteger)
    used: Mapped[int] = mapped_column(BigInteger, default=0)
    expired: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerEntry(Base):
    """An immutable movement: grant, debit, expire or overdraft (debit with no grant behind it)."""

    __tablename__ = "ledger_entries"
    # balance's split of a person's usage in a period reads their entries of that period only
    __table_args__ = (
        Index("ix_ledger_entries_person_period", "person_id", "period", "entry_type"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    entry_type: Mapped[str] = mapped_column(String(20))
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    period: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column()


class AccountTotal(Base):
    """Projection: a person's usage in a period, so balance and burn rate are O(1)."""

    __tablename__ = "account_totals"
    person_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(20), primary_key=True)
    used: Mapped[int] = mapped_column(BigInteger, default=0)
    overdraft: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)


class UseCaseTotal(Base):
    """Projection: a person's usage of one use case in a period (use case "" when none was
    given), so a capped use case is checked in O(1) whatever the history size."""

    __tablename__ = "use_case_totals"
    person_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(20), primary_key=True)
    use_case: Mapped[str] = mapped_column(String(100), primary_key=True)
    used: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)


class TeamAllocation(Base):
    """A manager's or admin's setting of a member's share of their team's pool for a period.
    Append-only: re-setting adds a row, and the latest row (highest id) is the allocation."""

    __tablename__ = "team_allocations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    period: Mapped[str] = mapped_column(String(20))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column()

    __table_args__ = (Index("ix_team_allocations_team_period", "team_id", "period"),)


class TeamPoolShare(Base):
    """Projection: a member's allocation of their team's pool in a period (None: none set) and
    what they drew from it, so the draw-down limit is one indexed read (`budgets.team_shares`)."""

    __tablename__ = "team_pool_shares"
    team_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(20), primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    allocation: Mapped[int | None] = mapped_column(BigInteger)
    used: Mapped[int] = mapped_column(BigInteger, default=0)


class PeriodRun(Base):
    """One row per period roll-over that happened: the guard that makes `expire` run once."""

    __tablename__ = "period_runs"
    period: Mapped[str] = mapped_column(String(20), primary_key=True)
    ran_at: Mapped[datetime] = mapped_column()


class DetectorRun(Base):
    """One row per closed week the gaming detectors judged once it had settled: what the daily
    `detectors` job reads to catch up the weeks it has not judged (judging again is harmless;
    this only spares the work)."""

    __tablename__ = "detector_runs"
    week: Mapped[str] = mapped_column(String(10), primary_key=True)
    ran_at: Mapped[datetime] = mapped_column()


class AuthorizeRefusal(Base):
    """One authorize call the policy refused (migration 0018): when, whose, why (the
    decision's reason code) and for what. Written only on refusals, after the answer is
    decided; the dashboard counts them by reason. No prompt is stored."""

    __tablename__ = "authorize_refusals"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column()
    person_id: Mapped[int | None] = mapped_column(Integer)  # None: the identity is unknown
    identity: Mapped[str] = mapped_column(String(320))  # as the gateway sent it
    code: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200))
    use_case: Mapped[str | None] = mapped_column(String(100))
    project: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_authorize_refusals_at_code", "at", "code"),)


# --- usage and outcomes --------------------------------------------------------------------


class UsageEvent(Base):
    """One metered LLM call (or an aggregated bucket from a provider export)."""

    __tablename__ = "usage_events"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # the idempotency key
    person_id: Mapped[int | None] = mapped_column(Integer)
    identity: Mapped[str] = mapped_column(String(320))  # as sent, for unattributed usage
    # The resolved model (catalog name, public model id, or as sent when unknown); model_sent
    # keeps the name as the provider or gateway sent it when that differs (migration 0012).
    model: Mapped[str] = mapped_column(String(200))
    model_sent: Mapped[str | None] = mapped_column(String(200))
    # catalog | public | unknown: where the price came from (NULL on rows before 0012).
    price_source: Mapped[str | None] = mapped_column(String(10))
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    budget_tokens: Mapped[int] = mapped_column(BigInteger)
    cost_micros: Mapped[int] = mapped_column(BigInteger)
    use_case: Mapped[str | None] = mapped_column(String(100))
    project: Mapped[str | None] = mapped_column(String(200))
    template_id: Mapped[str | None] = mapped_column(String(200))
    conversation_id: Mapped[str | None] = mapped_column(String(200))
    prompt_fingerprint: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[datetime] = mapped_column()
    period: Mapped[str] = mapped_column(String(20))
    unknown_price: Mapped[bool] = mapped_column(Boolean, default=False)
    uncategorised: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[datetime] = mapped_column()

    __table_args__ = (
        Index("ix_usage_person_time", "person_id", "occurred_at"),
        Index("ix_usage_time", "occurred_at"),
        # Only unattributed rows are looked up by identity (listing, `usage reassign`).
        Index(
            "ix_usage_unattributed",
            "identity",
            sqlite_where=text("person_id IS NULL"),
            postgresql_where=text("person_id IS NULL"),
        ),
        Index("ix_usage_conversation", "conversation_id"),
        # Only usage at an unknown price is listed by model and repriced (migration 0012).
        Index(
            "ix_usage_unknown_price",
            "model",
            sqlite_where=text("unknown_price"),
            postgresql_where=text("unknown_price"),
        ),
        # Estimates read a use case's latest calls (output ratio, template savings).
        # ... from the index alone: it carries what the history sums (migration 0011).
        Index(
            "ix_usage_use_case_time",
            "use_case",
            "occurred_at",
            "input_tokens",
            "output_tokens",
            "template_id",
        ),
    )


class Outcome(Base):
    """What became of AI output: accepted, rejected or revised. Texts are never stored."""

    __tablename__ = "outcomes"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    person_id: Mapped[int | None] = mapped_column(Integer)
    identity: Mapped[str] = mapped_column(String(320))
    artifact_id: Mapped[str | None] = mapped_column(String(200))
    use_case: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    usage_ids: Mapped[list[str] | None] = mapped_column(JSON)
    conversation_id: Mapped[str | None] = mapped_column(String(200))
    edit_distance: Mapped[float | None] = mapped_column(Float)
    minutes_saved: Mapped[float | None] = mapped_column(Float)
    minutes_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the manager verified (the claim), beside `minutes_saved`, what the tools reported.
    # Rows verified before 0016 have none: their verified figure is in minutes_saved.
    verified_minutes: Mapped[float | None] = mapped_column(Float)
    # The savings claim (audit entry id) last verified or declined: decisions are once only.
    savings_decided_claim: Mapped[int | None] = mapped_column(Integer)
    first_draft_seconds: Mapped[int | None] = mapped_column(BigInteger)
    template_id: Mapped[str | None] = mapped_column(String(200))
    content_fingerprint: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column()
    recorded_at: Mapped[datetime] = mapped_column()

    __table_args__ = (
        Index("ix_outcomes_person_time", "person_id", "occurred_at"),
        Index("ix_outcomes_time", "occurred_at"),
    )


# --- access, audit, requests ---------------------------------------------------------------


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    prefix: Mapped[str] = mapped_column(String(20), index=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_audit_at", "at"), Index("ix_audit_subject", "subject", "at"))


class BurstRequest(Base):
    """A request for extra tokens. State: pending -> approved | denied | cancelled | expired.

    A pending request waits on one step at a time (manager or project owner, then finance above
    the policy threshold); `approver_id` is who decides the current step. Every transition is a
    conditional update on (state, step, version), so exactly one decision wins per step.
    """

    __tablename__ = "burst_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    granted_amount: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    until: Mapped[datetime | None] = mapped_column()
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    step: Mapped[str] = mapped_column(String(20), default="manager")  # manager owner admin finance
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    # Chosen when the request is made (so a missing finance approver refuses it up front);
    # NULL when the amount needs no finance step.
    finance_approver_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    # When the current step began: nudges and expiry count from here.
    step_started_at: Mapped[datetime | None] = mapped_column()
    # Bumped on every transition; a decision is a conditional update on it (exactly once).
    version: Mapped[int] = mapped_column(Integer, default=0)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[datetime | None] = mapped_column()
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    nudged_at: Mapped[datetime | None] = mapped_column()
    # Where the approval message lives, so it can be updated in place: {"slack": {...}}.
    message_refs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The chat message that submitted it (Slack trigger id, Teams activity id, ...): a
    # redelivered submission finds the request it made instead of making a second one.
    submission_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    # The use case it is for (`--use-case`): auto-approval rules may be limited to some.
    use_case: Mapped[str | None] = mapped_column(String(100))
    # Approved by an `[[approvals.auto]]` rule: which, in which budget period, and which of
    # the rule's `max_per_period` slots it took (unique: concurrent requests never exceed it).
    auto_rule: Mapped[str | None] = mapped_column(String(100))
    auto_period: Mapped[str | None] = mapped_column(String(20))
    auto_slot: Mapped[int | None] = mapped_column(Integer)
    # Until when the manager (or an admin) may undo a rule's approval; set when undone (once).
    undo_until: Mapped[datetime | None] = mapped_column()
    undone_at: Mapped[datetime | None] = mapped_column()
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    revoked_amount: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint(
            "requester_id",
            "auto_rule",
            "auto_period",
            "auto_slot",
            name="uq_burst_requests_auto_slot",
        ),
    )


class BurstRequestDecision(Base):
    """One decision on one step of a burst request (an append-only fact).

    The unique (request, step) pair backs the conditional update: even a bug elsewhere cannot
    record two decisions for the same step.
    """

    __tablename__ = "burst_request_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("burst_requests.id"))
    step: Mapped[str] = mapped_column(String(20))
    decision: Mapped[str] = mapped_column(String(20))  # approved | denied
    actor_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    # True when an admin decided a step that was someone else's to decide.
    as_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column()

    __table_args__ = (UniqueConstraint("request_id", "step"),)


class SentNotice(Base):
    """One row per notice sent (alert, reminder, spotlight post): the exactly-once guard."""

    __tablename__ = "sent_notices"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column()


class OutboxMessage(Base):
    """A proactive message (DM or channel post), enqueued in the same transaction as the effect
    it announces and sent once.

    `key` is the exactly-once key (`reminder:2026-11:person:12`): enqueueing a key twice keeps
    the first row. A sender claims a row with a conditional update before sending it, so two
    senders never send the same row; `next_attempt_at` (NULL: now) is when it may be tried
    (again), which also frees the claim of a sender that died mid-send. The context is
    JSON-safe (dates as ISO strings), so a row renders the same after a restart.
    """

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    created_at: Mapped[datetime] = mapped_column()
    to_person_id: Mapped[int | None] = mapped_column(Integer)
    to_channel: Mapped[str | None] = mapped_column(String(200))
    to_team: Mapped[str | None] = mapped_column(String(200))  # Notice.to_team
    template: Mapped[str] = mapped_column(String(100))
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    buttons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    private: Mapped[bool] = mapped_column(Boolean, default=True)
    ref: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    # Files sent with the message (a review's chart): [{filename, title, mime_type,
    # content_base64}], uploaded by adapters that can.
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "next_attempt_at"),)


class ConversationRef(Base):
    """How to reach a person or channel proactively on a chat platform."""

    __tablename__ = "conversation_refs"
    platform: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)  # person:ID or channel:NAME
    reference: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class PromptTemplate(Base):
    """A prompt template of the library. `state` is proposed (no version approved yet),
    approved (`current_version` is the approved text) or retired; `approved` is
    `state == 'approved'`, kept beside it because scoring's aggregates filter on it. Its
    texts are its `PromptTemplateVersion`s (scoring.template_library keeps both in step)."""

    __tablename__ = "prompt_templates"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    use_case: Mapped[str] = mapped_column(String(100), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    approved: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column()
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    state: Mapped[str] = mapped_column(String(20), default="approved", server_default="approved")
    current_version: Mapped[int | None] = mapped_column(Integer)
    first_approved_at: Mapped[datetime | None] = mapped_column()


class PromptTemplateVersion(Base):
    """One text of a template, as its author deliberately proposed it (the only prompt text
    tokenbot keeps). Versions are never deleted: a new one supersedes the approved one, and a
    version's stats are its template's usage from its approval to the next one's. `state`:
    proposed -> approved | sent_back (once, by a conditional update); approved ->
    superseded. `variables` are the names the text reads, in order of first appearance."""

    __tablename__ = "prompt_template_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[str] = mapped_column(ForeignKey("prompt_templates.id"))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    variables: Mapped[list[str]] = mapped_column(JSON, default=list)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    state: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column()
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[datetime | None] = mapped_column()
    comment: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (UniqueConstraint("template_id", "version"),)


class Flag(Base):
    """A governance flag on a person for a week. Private to the person and their manager."""

    __tablename__ = "flags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    week: Mapped[str] = mapped_column(String(10))  # ISO week, e.g. 2026-W47
    detector: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    explanation: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    resolved_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (UniqueConstraint("person_id", "week", "detector"),)


class QuotaRecommendation(Base):
    """A monthly recommendation to change a tier, team pool or reserved pool, with its
    evidence. State: pending -> applied | dismissed, by an admin, once (conditional update)."""

    __tablename__ = "quota_recommendations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)  # month:kind:subject
    month: Mapped[str] = mapped_column(String(7), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # tier | team_pool | reserved_pool
    subject: Mapped[str] = mapped_column(String(300))  # person:12 | team:3 | reserved:<pool>
    subject_name: Mapped[str] = mapped_column(String(200))
    direction: Mapped[str] = mapped_column(String(10))  # raise | lower
    tier_from: Mapped[str | None] = mapped_column(String(100))
    tier_to: Mapped[str | None] = mapped_column(String(100))
    amount_from: Mapped[int] = mapped_column(BigInteger)
    amount_to: Mapped[int] = mapped_column(BigInteger)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column()
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[datetime | None] = mapped_column()


class QuotaOverride(Base):
    """An applied recommendation: from `effective_at` (a period start) on, the subject's tier or
    pool amount is this instead of the policy's. Append-only; the latest effective one wins."""

    __tablename__ = "quota_overrides"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(300))
    tier: Mapped[str | None] = mapped_column(String(100))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    effective_at: Mapped[datetime] = mapped_column()
    recommendation_id: Mapped[int | None] = mapped_column(ForeignKey("quota_recommendations.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column()

    __table_args__ = (Index("ix_quota_overrides_subject", "kind", "subject", "effective_at"),)


class SchedulerLease(Base):
    """Which scheduler process may run jobs right now (one row per lease name)."""

    __tablename__ = "scheduler_leases"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column()


class ScheduledJob(Base):
    """APScheduler's SQLAlchemyJobStore table (its exact layout), created by our migrations
    so two scheduler processes starting at once never race to create it."""

    __tablename__ = "scheduler_jobs"
    id: Mapped[str] = mapped_column(Unicode(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25), index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary)


# --- scoring -------------------------------------------------------------------------------


class ScoringRollup(Base):
    """Projection: one person's usage and outcomes in one use case with one template in one
    closed ISO week (use case / template "" when none), so scores and baselines read a few sums
    instead of scanning events. `scoring.rollups` rebuilds a week from the facts whenever the
    week's event counts moved since it was built (see `ScoringWeek`)."""

    __tablename__ = "scoring_rollups"
    week: Mapped[str] = mapped_column(String(10), primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    use_case: Mapped[str] = mapped_column(String(100), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    artifacts: Mapped[int] = mapped_column(BigInteger, default=0)
    accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    edited: Mapped[int] = mapped_column(BigInteger, default=0)
    edit_distance_sum: Mapped[float] = mapped_column(Float, default=0.0)
    drafts: Mapped[int] = mapped_column(BigInteger, default=0)
    first_draft_seconds_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    verified_minutes: Mapped[float] = mapped_column(Float, default=0.0)

    # Clustered on the key in SQLite: a week's rows are read in key order, not row by row.
    __table_args__ = {"sqlite_with_rowid": False}


class ScoringSpendRollup(Base):
    """Projection: one person's attributed usage in one project, use case and model in one
    stored window of `ScoringRollup` (a closed ISO week, or a period's edge days), built and
    checked with it (migration 0018), so finance and the chargeback read sums, not events
    ("" where usage named no project or use case)."""

    __tablename__ = "scoring_spend_rollups"
    week: Mapped[str] = mapped_column(String(10), primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(200), primary_key=True)
    use_case: Mapped[str] = mapped_column(String(100), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = {"sqlite_with_rowid": False}


class ScoringWeek(Base):
    """A week whose rollup is built, with the usage and outcome counts it was built from: the
    rollup is current while those counts hold (usage and outcomes are append-only; verifying
    saved minutes drops the row)."""

    __tablename__ = "scoring_weeks"
    week: Mapped[str] = mapped_column(String(10), primary_key=True)
    usage_events: Mapped[int] = mapped_column(BigInteger)
    outcomes: Mapped[int] = mapped_column(BigInteger)
    built_at: Mapped[datetime] = mapped_column()
    # The prompt templates (ids, approval, authors) the week's summaries were built with, as
    # `scoring.rollups.templates_fingerprint`; NULL: no summaries yet. Summaries whose templates
    # changed are rebuilt from the rollup, which does not depend on them.
    templates: Mapped[str | None] = mapped_column(String(64))


class ScoringWeekValues(Base):
    """Projection of one week's rollup, for baselines: per use case, the number of person-weeks
    with usage or outcomes, and for each metric baselines take a median of (`scoring.rollups.
    MEDIANS`) the person-weeks' values where defined, sorted, as packed little-endian doubles. A
    baseline over 8 weeks merges 8 short arrays per metric instead of re-reading 8 weeks of
    rollups. Built and dropped with the week's rollup."""

    __tablename__ = "scoring_week_values"
    week: Mapped[str] = mapped_column(String(10), primary_key=True)
    use_case: Mapped[str] = mapped_column(String(100), primary_key=True)
    person_weeks: Mapped[int] = mapped_column(BigInteger)
    tokens_per_task: Mapped[bytes] = mapped_column(LargeBinary)
    acceptance_rate: Mapped[bytes] = mapped_column(LargeBinary)
    revision_burden: Mapped[bytes] = mapped_column(LargeBinary)
    first_draft_seconds: Mapped[bytes] = mapped_column(LargeBinary)
    cost_per_accepted: Mapped[bytes] = mapped_column(LargeBinary)
    accepted_per_1k_tokens: Mapped[bytes] = mapped_column(LargeBinary)
    accepted_per_week: Mapped[bytes] = mapped_column(LargeBinary)
    verified_minutes_per_week: Mapped[bytes] = mapped_column(LargeBinary)
    template_reuse_rate: Mapped[bytes] = mapped_column(LargeBinary)


class ScoringTemplateWeek(Base):
    """Projection of one week's rollup, for template reports: sums per use case, template ("":
    none) and whether the person was the template's author, with the distinct people in each
    group. Built and dropped with the week's rollup."""

    __tablename__ = "scoring_template_weeks"
    week: Mapped[str] = mapped_column(String(10), primary_key=True)
    use_case: Mapped[str] = mapped_column(String(100), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    by_author: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    artifacts: Mapped[int] = mapped_column(BigInteger, default=0)
    accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    edited: Mapped[int] = mapped_column(BigInteger, default=0)
    edit_distance_sum: Mapped[float] = mapped_column(Float, default=0.0)
    drafts: Mapped[int] = mapped_column(BigInteger, default=0)
    first_draft_seconds_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    verified_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    people: Mapped[int] = mapped_column(BigInteger, default=0)


# --- dashboard sign-in ---------------------------------------------------------------------


class DashboardSignIn(Base):
    """A one-time sign-in link to the web dashboard. Only the SHA-256 of its token is kept;
    `used_at` is set once, by a conditional update, so a link opens one session at most."""

    __tablename__ = "dashboard_sign_ins"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class DashboardSession(Base):
    """A signed-in browser. The cookie carries the session token (signed); only its SHA-256 is
    stored. A session ends at `expires_at` or when signed out (`ended_at`)."""

    __tablename__ = "dashboard_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    method: Mapped[str] = mapped_column(String(20))  # link | slack | entra
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()


# --- policy versions and personal settings --------------------------------------------------


class PolicyVersion(Base):
    """A policy applied with `tokenbot policy apply`: the TOML text exactly as validated, who
    applied it and when. Append-only; the highest `version` is the policy in force (see
    `budgets.policy_store`). Versions are 1, 2, 3 ... with no gaps: an apply takes the next
    number with an insert that the primary key makes unique, so two applies at once get two
    versions, strictly ordered."""

    __tablename__ = "policy_versions"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    applied_at: Mapped[datetime] = mapped_column()
    applied_by: Mapped[str] = mapped_column(String(320))
    sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(String(500), default="")


class PersonSettings(Base):
    """What a person chose for their notices (`/tokens settings`). NULL: the policy's default
    (`[settings.defaults]`), so a changed default reaches everyone who never chose. Each change
    is recorded in the audit log (`settings.change`) and bumps `revision`."""

    __tablename__ = "person_settings"
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    reminders: Mapped[bool | None] = mapped_column(Boolean)
    alerts: Mapped[str | None] = mapped_column(String(10))  # on | off | a share such as 0.9
    digest: Mapped[bool | None] = mapped_column(Boolean)
    quiet_hours: Mapped[str | None] = mapped_column(String(11))  # HH:MM-HH:MM | "" (none)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column()
