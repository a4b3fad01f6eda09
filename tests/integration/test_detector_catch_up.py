"""The daily detectors job judges every closed week, not only the one holding yesterday: after
downtime (or on a first install with data already there) it catches up the settled weeks it
has not judged, records them, and a rerun judges nothing twice; `--week` judges one week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.jobs import run_job
from storage.models import DetectorRun, Flag
from tests.integration.governance_support import Recorder, at, call, record


def spam_in(services, user: str, weeks_back: int) -> None:  # noqa: ANN001
    """One prompt sent afresh 20 times among 10 others, `weeks_back` weeks before 2026-W46."""
    shift = timedelta(weeks=weeks_back)
    spam = [call(user, at(1, 9, i) - shift, prompt="00000000deadbeef") for i in range(20)]
    record(services, spam + [call(user, at(2, 9, i) - shift) for i in range(10)])


def flags(services) -> set[tuple[int, str, str]]:  # noqa: ANN001
    with services.db.read() as session:
        rows = session.execute(select(Flag.person_id, Flag.week, Flag.detector))
        return {(pid, week, detector) for pid, week, detector in rows}


def judged(services) -> list[str]:  # noqa: ANN001
    with services.db.read() as session:
        return list(session.scalars(select(DetectorRun.week).order_by(DetectorRun.week)))


def test_after_downtime_the_daily_job_judges_the_weeks_it_missed_once(services, org, clock):
    spam_in(services, "ann@acme.test", weeks_back=2)  # 2026-W44
    spam_in(services, "bob@acme.test", weeks_back=0)  # 2026-W46
    clock.set(datetime(2026, 11, 24, 6, 0, tzinfo=UTC))  # Tuesday of W48, nothing ran since
    recorder = Recorder()
    first = run_job(services, "detectors", [recorder])
    assert flags(services) == {
        (org["ann@acme.test"].id, "2026-W44", "prompt_spam"),
        (org["bob@acme.test"].id, "2026-W46", "prompt_spam"),
    }
    assert judged(services) == ["2026-W44", "2026-W45", "2026-W46", "2026-W47"]
    assert "2026-W44, 2026-W45, 2026-W46, 2026-W47, 2026-W48" in first.summary
    assert first.enqueued == 2 and len(recorder.sent) == 2
    again = run_job(services, "detectors", [recorder])
    assert again.summary.startswith("2026-W48:")  # only the week still open
    assert again.enqueued == 0 and len(recorder.sent) == 2


def test_a_week_not_yet_settled_is_judged_again_until_it_is(services, org, clock):
    spam_in(services, "ann@acme.test", weeks_back=0)
    clock.set(datetime(2026, 11, 16, 6, 0, tzinfo=UTC))  # Monday: W46 ended 6 hours ago
    run_job(services, "detectors", [Recorder()])
    assert "2026-W46" not in judged(services)
    clock.set(datetime(2026, 11, 17, 6, 0, tzinfo=UTC))  # a day later it has settled
    result = run_job(services, "detectors", [Recorder()])
    assert "2026-W46" in judged(services) and result.summary.startswith("2026-W46, 2026-W47:")


def test_a_named_week_is_judged_on_demand_and_idempotently(services, org, clock):
    spam_in(services, "ann@acme.test", weeks_back=1)  # 2026-W45
    recorder = Recorder()
    first = run_job(services, "detectors", [recorder], week="2026-W45")
    again = run_job(services, "detectors", [recorder], week="2026-W45")
    assert flags(services) == {(org["ann@acme.test"].id, "2026-W45", "prompt_spam")}
    assert (first.enqueued, again.enqueued, len(recorder.sent)) == (1, 0, 1)
    assert judged(services) == ["2026-W45"]
