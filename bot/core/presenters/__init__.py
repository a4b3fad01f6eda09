"""Presenters: domain results (dataclasses) -> Reply, Notice, template context, chart.

The domain (`budgets`, `ingest`, `scoring`) returns facts; the modules here turn them into what
the people see, so chat, reports and the dashboard show the same numbers. A presenter reads no
clock: it gets what a domain function returned (and the policy for its calendar). It reads no
database either, with one named exception: `requests` gathers the requester's balance and recent
efficiency for an approval message in the caller's transaction (from `budgets.balances` and
`scoring.efficiency`), which is what keeps `budgets` free of `scoring`.
One module per capability: `spotlight`, `flags`, `review`, `requests`, `charts`, `templates`.
"""
