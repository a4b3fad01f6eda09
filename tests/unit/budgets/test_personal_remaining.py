"""budgets.balances.personal_remaining: the one-query figure the estimate uses must equal the
balance view's `personal_remaining` whatever grants are around."""

from __future__ import annotations

from datetime import timedelta

from budgets.balances import balance_for, personal_remaining
from budgets.ledger import GrantSpec, issue_grants
from budgets.periods import period_for


def test_personal_remaining_equals_the_balance_views_with_every_kind_of_grant_around(
    session, policy, org, clock
):
    now = clock()
    ann, mia = org["ann@acme.test"], org["mia@acme.test"]
    period = period_for(policy.periods, now)
    day = timedelta(days=1)

    def spec(key, owner_type, owner_id, amount, effective_at, expires_at, kind="manual"):
        return GrantSpec(
            key=f"test:{key}",
            kind=kind,
            token_class="operational",
            owner_type=owner_type,
            owner_id=owner_id,
            amount=amount,
            period=period.key,
            effective_at=effective_at,
            expires_at=expires_at,
            source="admin",
        )

    issue_grants(
        session,
        [
            spec("active", "person", ann.id, 700, now - day, now + day),
            spec("burst", "person", ann.id, 300, now - day, now + day, kind="burst"),
            spec("not-yet", "person", ann.id, 5_000, now + day, now + 2 * day),
            spec("expired", "person", ann.id, 9_000, now - 2 * day, now - day),
            spec("ends-now", "person", ann.id, 4_000, now - day, now),
            spec("someone-else", "person", mia.id, 11_000, now - day, now + day),
            spec("team", "team", ann.team_id, 13_000, now - day, now + day, kind="team_pool"),
        ],
        now,
    )
    session.commit()

    for moment in (now, now + day + timedelta(hours=1), now - timedelta(hours=1)):
        for person in org.values():
            view = balance_for(session, person, policy, moment)
            assert personal_remaining(session, person, moment) == view.personal_remaining
    # Not a vacuous match: the default tier's 2,000,000 baseline and the two grants active now
    # (a grant ending exactly now is over; an hour earlier it still counted).
    assert personal_remaining(session, ann, now) == 2_000_000 + 700 + 300
    assert personal_remaining(session, ann, now - timedelta(hours=1)) == 2_000_000 + 5_000
