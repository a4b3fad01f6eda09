"""Presenters: domain results (dataclasses) -> Reply, Notice, template context, chart.

The domain (`budgets`, `ingest`, `scoring`) returns facts; the modules here turn them into what
the people see, so chat, reports and the dashboard show the same numbers. A presenter reads no
database and no clock: it gets what a domain function returned (and the policy for its calendar).
One module per capability: `spotlight`, `flags`, `review`, `requests`.
"""
