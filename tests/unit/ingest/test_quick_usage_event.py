"""The fast path of usage parsing never disagrees with the careful one.

`quick_usage_event` answers an event or "don't know" (None); the careful parser is the rule
book. For any record the fast path must either step aside or return exactly the event the
careful parser returns: it may never accept what the careful parser refuses, nor change a value.
"""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.events import (
    MAX_CLOCK_SKEW,
    MAX_ID_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_TOKENS_PER_EVENT,
    UsageEvent,
    careful_usage_event,
    parse_usage_event,
    quick_usage_event,
    stored_id,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "\t", " a ", "x" * MAX_TEXT_LENGTH, "x" * (MAX_TEXT_LENGTH + 1)]),
)
ids = st.one_of(
    texts,
    st.sampled_from(
        ["i" * MAX_ID_LENGTH, "i" * (MAX_ID_LENGTH + 1), "litellm:" + "r" * 470, " " * 300]
    ),
)
counts = st.one_of(
    st.integers(min_value=-5, max_value=5),
    st.integers(min_value=0, max_value=4000),
    st.sampled_from([MAX_TOKENS_PER_EVENT, MAX_TOKENS_PER_EVENT + 1, True, False, 12.0, 1.5]),
    st.sampled_from(["12", "", None, float("nan")]),
)
moments = st.datetimes(min_value=datetime(2019, 12, 30), max_value=datetime(2026, 12, 2)).map(
    lambda d: d.replace(tzinfo=UTC)
)
stamps = st.one_of(
    moments.map(lambda d: d.isoformat()),
    moments.map(lambda d: d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")),  # no offset
    moments.map(lambda d: d.isoformat().replace("+00:00", "Z")),
    moments.map(
        lambda d: d.astimezone(__import__("datetime").timezone(timedelta(hours=-7))).isoformat()
    ),
    moments.map(lambda d: " " + d.isoformat() + " "),
    st.sampled_from(["", "yesterday", "2026-13-01T00:00:00Z", "9999-12-31T23:59:59+00:00"]),
    st.integers(min_value=1_500_000_000, max_value=1_900_000_000),
    st.none(),
)
optional = st.one_of(st.none(), texts, st.integers(), st.just(["a"]))
fingerprints = st.one_of(st.none(), st.sampled_from(["ab" * 8, "AB" * 8, "zz", ""]))


# Any of the fields may be missing (st.just(...) marks "leave it out").
def field(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(strategy, st.just(...))


records = st.fixed_dictionaries(
    {
        "id": field(ids),
        "user": field(texts),
        "model": field(texts),
        "input_tokens": field(counts),
        "output_tokens": field(counts),
        "cached_input_tokens": field(counts),
        "use_case": field(optional),
        "project": field(optional),
        "template_id": field(optional),
        "conversation_id": field(optional),
        "timestamp": field(stamps),
        "prompt_fingerprint": field(fingerprints),
    }
).map(lambda raw: {k: v for k, v in raw.items() if v is not ...})


@settings(max_examples=600, deadline=None)
@given(records)
def test_the_fast_path_steps_aside_or_agrees_with_the_careful_parser(raw):
    quick = quick_usage_event(raw, NOW + MAX_CLOCK_SKEW)
    careful = careful_usage_event(raw, 3, NOW)
    if quick is not None:
        assert isinstance(careful, UsageEvent), careful
        assert quick == careful
    assert parse_usage_event(raw, 3, now=NOW) == careful


def test_the_common_record_takes_the_fast_path():
    raw = {
        "id": "gw-1",
        "user": "alice@example.com",
        "model": "gpt-4o",
        "input_tokens": 1200,
        "output_tokens": 300,
        "cached_input_tokens": 200,
        "use_case": "seo-brief",
        "conversation_id": "c-1",
        "timestamp": "2026-11-27T10:00:00+01:00",
    }
    quick = quick_usage_event(raw, NOW + MAX_CLOCK_SKEW)
    assert quick == careful_usage_event(raw, 0, NOW)
    assert quick is not None and quick.timestamp == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_a_long_id_takes_the_fast_path_and_is_stored_as_the_careful_parser_stores_it():
    raw = {
        "id": "litellm:" + "r" * 470,
        "user": "alice@example.com",
        "model": "gpt-4o",
        "input_tokens": 10,
        "output_tokens": 5,
        "timestamp": "2026-11-27T10:00:00Z",
    }
    quick = quick_usage_event(raw, NOW + MAX_CLOCK_SKEW)
    assert quick is not None and quick == careful_usage_event(raw, 0, NOW)
    assert quick.id == stored_id(raw["id"])


def test_what_needs_a_reason_goes_to_the_careful_parser():
    base = {
        "id": "gw-1",
        "user": "alice@example.com",
        "model": "gpt-4o",
        "input_tokens": 10,
        "output_tokens": 5,
        "timestamp": "2026-11-27T10:00:00Z",
    }
    for change in (
        {"input_tokens": -1},
        {"cached_input_tokens": 11},
        {"timestamp": "2026-11-27T10:00:00"},
        {"timestamp": "2027-01-01T00:00:00Z"},
        {"user": "  "},
        {"prompt_fingerprint": "AB" * 8},  # valid, but normalised by the careful parser
    ):
        assert quick_usage_event({**base, **change}, NOW + MAX_CLOCK_SKEW) is None, change


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_bulk_inserts_store_datetimes_as_the_column_type_would(moment, offset_minutes):
    from datetime import timezone

    from sqlalchemy.dialects import sqlite

    from storage.models import UTCDateTime

    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    try:
        aware.astimezone(UTC)
    except OverflowError:
        return
    dialect = sqlite.dialect()
    column_type = UTCDateTime()
    by_the_type = column_type.dialect_impl(dialect).bind_processor(dialect)(aware)
    assert UTCDateTime.sqlite_text(aware) == by_the_type
