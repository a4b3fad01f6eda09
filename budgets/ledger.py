"""The token ledger, one import away: grants, usage debits, period roll-over and verification.

Facts are append-only `LedgerEntry` rows (grant, debit, expire, overdraft) and `UsageEvent`
rows; `GrantBalance`, `AccountTotal` and `UseCaseTotal` are projections updated in the same
transaction, and `verify` rebuilds them from the facts. Each part lives in its own module, with
the invariants it keeps:

- `budgets.grants`: what the policy and approvals give (`GrantSpec`, `issue_grants`,
  `ensure_period_grants`), issued once per key;
- `budgets.usage_ledger`: `record_usage` and `debit_recorded_usage`, identity resolution and
  the debit that applies the draw-down rule (`budgets.draws`);
- `budgets.rollover`: `expire`, closing a finished period once;
- `budgets.verify`: `verify` and `Discrepancy`.

This module re-exports their public names so callers import the ledger from one place; the
modules above never import it.
"""

from budgets.grants import (
    GRANT_KINDS,
    GrantSpec,
    ensure_period_grants,
    ensure_projects,
    issue_grants,
    period_grant_specs,
)
from budgets.rollover import ExpireResult, expire, period_of
from budgets.usage_ledger import (
    RecordResult,
    UsageLike,
    debit_recorded_usage,
    identity_key,
    record_usage,
    record_usage_groups,
    resolve_identities,
    unique_by_id,
)
from budgets.verify import Discrepancy, verify

__all__ = [
    "GRANT_KINDS",
    "Discrepancy",
    "ExpireResult",
    "GrantSpec",
    "RecordResult",
    "UsageLike",
    "debit_recorded_usage",
    "ensure_period_grants",
    "ensure_projects",
    "expire",
    "identity_key",
    "issue_grants",
    "period_grant_specs",
    "period_of",
    "record_usage",
    "record_usage_groups",
    "resolve_identities",
    "unique_by_id",
    "verify",
]
