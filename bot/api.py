"""The usage API on the one aiohttp app: POST /api/v1/usage, /api/v1/outcomes, /api/v1/authorize.

Every call carries `Authorization: Bearer KEY` (keys from `tokenbot apikey create`). The
aiohttp handlers only translate: they check the key (401 without reading the body), read the
body within `body_read_seconds` (408 when slower; over `max_body_bytes`: a JSON 413), then run
one synchronous function in a worker thread (the API's own pool) that checks the key again,
decodes and validates the body, and does the database work in one unit of work per batch. That function returns an `Answer` (status and JSON body) which the handler sends.

Contract:
- missing, malformed, wrong or revoked key: 401 and nothing is read or stored;
- malformed JSON: 400 naming the problem (bot/request_bodies.py: huge integers, deep
  nesting, NUL characters, lone surrogates, bytes that are not UTF-8); a batch with any
  invalid event: 400 with every problem as `{index, field, reason}` and nothing of it stored
  (all-or-nothing);
- a repeated event id is acknowledged and counted once (also across concurrent requests);
- the database unreachable: 503 with Retry-After and a JSON error, never a trace; anything
  unexpected: a JSON 500 (the trace goes to the log only).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import exc as db_errors

from bot.bootstrap import Services
from bot.core.messages import Reply
from bot.group_commit import GroupCommit
from bot.http_limits import FloodLog, read_body
from bot.request_bodies import MalformedBody, decode_json
from budgets.apikeys import hash_key, verify_api_key
from budgets.authorize import Decision, authorize
from budgets.ledger import record_usage_groups
from budgets.refusals import record_refusal
from ingest.events import (
    FieldError,
    InvalidValue,
    parse_outcome_event,
    parse_token_count,
    parse_usage_event,
)
from ingest.store import outcome_storage_errors, record_outcomes, usage_storage_errors

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
# The key check (the first database call of every request) is given this long; past it the
# caller hears 503 and Retry-After even when the database neither answers nor fails (the
# engine's connect and pool timeouts end the waiting thread itself soon after).
ANSWER_WITHIN_SECONDS = 4.0
# An unreachable database fails every request alike: one line, then a summary a minute.
UNAVAILABLE_LOG = FloodLog("the usage API answers 503: the database is unavailable")
# Errors that mean "the database cannot be reached or is overloaded right now": retry later.
DATABASE_UNAVAILABLE = (
    db_errors.OperationalError,
    db_errors.InterfaceError,
    db_errors.TimeoutError,
)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, error: str, message: str, **more: Any) -> Answer:
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="tokenbot"'
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return Answer(status, {"error": error, "message": message, **more}, headers)


UNAUTHORIZED = _error(
    401,
    "unauthorized",
    "send a valid API key as 'Authorization: Bearer KEY' (tokenbot apikey create --name NAME)",
)
UNAVAILABLE = _error(
    503, "unavailable", "the database is unreachable right now; retry the same request later"
)
INTERNAL = _error(500, "internal", "something went wrong; it has been logged")


def _invalid(errors: list[FieldError]) -> Answer:
    return _error(
        400,
        "invalid",
        f"{len(errors)} problem(s); nothing was stored",
        errors=[{"index": e.index, "field": e.field, "reason": e.reason} for e in errors],
    )


def _decode(body: bytes) -> Any | Answer:
    try:
        return decode_json(body)
    except MalformedBody as malformed:
        return _error(400, "malformed_json", malformed.reason)


def _batch(payload: Any, key: str) -> list[Any] | Answer:
    items = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(items, list):
        return _invalid([FieldError(-1, key, f'is required: send {{"{key}": [...]}}')])
    return items


# --- the work each endpoint does, off the event loop --------------------------------------


def _authenticated(services: Services, key: str | None) -> bool:
    with services.db.read() as session:
        return verify_api_key(session, key) is not None


def _validated_batch(
    services: Services,
    key: str | None,
    body: bytes,
    name: str,
    parse: Callable[..., Any],
    storage_errors: Callable[[Any, int], list[FieldError]],
) -> list[Any] | Answer:
    """The batch's events when the key is good and every event valid, else the answer."""
    if not _authenticated(services, key):
        return UNAUTHORIZED
    return _validated_events(body, name, parse, storage_errors, services.clock())


def _validated_events(
    body: bytes,
    name: str,
    parse: Callable[..., Any],
    storage_errors: Callable[[Any, int], list[FieldError]],
    now: datetime,
) -> list[Any] | Answer:
    """The body's events when every one is valid, else the answer."""
    payload = _decode(body)
    if isinstance(payload, Answer):
        return payload
    items = _batch(payload, name)
    if isinstance(items, Answer):
        return items
    events: list[Any] = []
    errors: list[FieldError] = []
    for index, raw in enumerate(items):
        parsed = parse(raw, index, now=now)
        if isinstance(parsed, list):
            errors.extend(parsed)
        else:
            errors.extend(storage_errors(parsed, index))
            events.append(parsed)
    return _invalid(errors) if errors else events


UsageRequest = tuple[str | None, bytes]  # (API key, body) of one POST /api/v1/usage


def ingest_usage(services: Services, key: str | None, body: bytes) -> Answer:
    return ingest_usage_group(services, [(key, body)])[0]


def ingest_usage_group(services: Services, requests: Sequence[UsageRequest]) -> list[Answer]:
    """Several POST /api/v1/usage requests in one transaction (group commit, bot/group_commit.py):
    each request's answer as if it had come alone, given only once the group committed.

    When the group's transaction fails for any reason but an unreachable database, each
    request is tried alone, so one request that cannot be stored never fails the others
    (it answers 500; the trace goes to the log)."""
    try:
        return _ingest_together(services, requests)
    except DATABASE_UNAVAILABLE:
        raise
    except Exception:
        if len(requests) == 1:
            raise
        log.exception("a group of %d usage requests failed; trying each alone", len(requests))
    answers = []
    for request in requests:
        try:
            answers.append(_ingest_together(services, [request])[0])
        except DATABASE_UNAVAILABLE:
            answers.append(UNAVAILABLE)
        except Exception:
            log.exception("POST /api/v1/usage failed")
            answers.append(INTERNAL)
    return answers


def _ingest_together(services: Services, requests: Sequence[UsageRequest]) -> list[Answer]:
    answers: list[Answer] = [UNAUTHORIZED] * len(requests)
    with services.db.unit_of_work() as uow:
        # Every request's key is checked again inside the transaction that stores its events:
        # a key revoked a moment ago stores nothing.
        known: dict[str | None, bool] = {}
        batches: list[list[Any]] = []
        senders: list[int] = []
        now = services.clock()
        for number, (key, body) in enumerate(requests):
            if key not in known:
                known[key] = verify_api_key(uow.session, key) is not None
            if not known[key]:
                continue
            events = _validated_events(body, "events", parse_usage_event, usage_storage_errors, now)
            if isinstance(events, Answer):
                answers[number] = events
                continue
            batches.append(events)
            senders.append(number)
        if not batches:
            return answers
        results = record_usage_groups(uow.session, batches, services.policy, now)
        uow.commit()
    for number, result in zip(senders, results, strict=True):
        answers[number] = Answer(
            200,
            {
                "recorded": result.recorded,
                "duplicates": result.duplicates,
                "unattributed": result.unattributed,
                "overdraft": result.overdraft,
                "unknown_models": sorted(result.unknown_models),
                "uncategorised_use_cases": sorted(result.uncategorised_use_cases),
                # Drawn from the person's own grants (no such project in the policy).
                "unknown_projects": sorted(result.unknown_projects),
            },
        )
    return answers


def ingest_outcomes(services: Services, key: str | None, body: bytes) -> Answer:
    outcomes = _validated_batch(
        services, key, body, "outcomes", parse_outcome_event, outcome_storage_errors
    )
    if isinstance(outcomes, Answer):
        return outcomes
    with services.db.unit_of_work() as uow:
        result = record_outcomes(uow.session, outcomes, services.clock())
        uow.commit()
    return Answer(
        200,
        {
            "recorded": result.recorded,
            "duplicates": result.duplicates,
            "unattributed": result.unattributed,
        },
    )


def _authorize_request(payload: Any) -> dict[str, Any] | Answer:
    if not isinstance(payload, dict):
        return _invalid([FieldError(0, "request", "must be a JSON object")])
    errors: list[FieldError] = []
    request: dict[str, Any] = {}
    for name in ("user", "model"):
        value = payload.get(name)
        if not isinstance(value, str) or not value.strip():
            errors.append(FieldError(0, name, "must be a non-empty string"))
        request[name] = value
    try:
        request["estimated_tokens"] = parse_token_count(payload.get("estimated_tokens"))
    except InvalidValue as invalid:
        errors.append(FieldError(0, "estimated_tokens", invalid.reason))
    for name in ("use_case", "project"):
        value = payload.get(name)
        if value is not None and not isinstance(value, str):
            errors.append(FieldError(0, name, "must be a string when given"))
        request[name] = (value.strip() or None) if isinstance(value, str) else None
    return _invalid(errors) if errors else request


def authorize_call(services: Services, key: str | None, body: bytes) -> Answer:
    # The key check and the decision share one read-only connection (no ORM session: this is
    # the gateway's hot path). Nothing is decoded before the key is known good.
    with services.db.read_connection() as session:
        if verify_api_key(session, key) is None:
            return UNAUTHORIZED
        payload = _decode(body)
        if isinstance(payload, Answer):
            return payload
        request = _authorize_request(payload)
        if isinstance(request, Answer):
            return request
        decision = authorize(
            session,
            services.policy,
            request["user"],
            request["model"],
            request["estimated_tokens"],
            request["use_case"],
            request["project"],
            services.clock(),
        )
    if not decision.allow:  # the dashboard's refused calls by reason (issue 21)
        _note_refusal(services, decision, request)
    reason = services.renderer.text(Reply("authorize_reason", {"decision": decision}))
    return Answer(
        200,
        {
            "allow": decision.allow,
            "remaining": decision.remaining,
            "pool": decision.pool,
            "reason": reason,
            "code": decision.reason,
            "enforced": decision.enforced,
            "estimated_budget_tokens": decision.estimated_budget_tokens,
        },
    )


def _note_refusal(services: Services, decision: Decision, request: dict[str, Any]) -> None:
    """Record a refused call in a transaction of its own, after the decision. A failure to
    record is logged and the refusal is answered all the same."""
    try:
        with services.db.unit_of_work() as uow:
            record_refusal(
                uow.session,
                decision,
                request["user"],
                request["model"],
                request["project"],
                services.clock(),
            )
            uow.commit()
    except Exception:
        log.exception("authorize: a refused call (%s) was not recorded", decision.reason)


def render_template(services: Services, key: str | None, body: bytes) -> Answer:
    """POST /api/v1/templates/render (issue 22): bot/api_templates.py does the work."""
    from bot.api_templates import render_request

    if not _authenticated(services, key):
        return UNAUTHORIZED
    payload = _decode(body)
    if isinstance(payload, Answer):
        return payload
    status, answer = render_request(services, payload)
    return Answer(status, answer)


# --- the aiohttp side ----------------------------------------------------------------------

Work = Callable[[Services, str | None, bytes], Answer]


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _respond(answer: Answer) -> web.Response:
    return web.json_response(answer.body, status=answer.status, headers=answer.headers)


def _too_large(limit: int) -> web.Response:
    return _respond(
        _error(
            413,
            "too_large",
            f"the body is larger than {limit:,} bytes; send smaller batches",
            limit_bytes=limit,
        )
    )


def _known_on_current_policy(services: Services, key: str | None) -> bool:
    """The key check, then (for a known key) the latest applied policy in force for the work
    that follows (`Services.refresh_policy`: one indexed read), in the same worker hop."""
    known = _authenticated(services, key)
    if known:
        services.refresh_policy()
    return known


class RecentKeys:
    """Keys that verified within the last `seconds`: the check before the body is skipped for
    them (no worker hop, no read), while the work still checks the key in its own transaction,
    so a revoked key stores and decides nothing at once; only its body may still be read for
    these few seconds. Unknown keys are never remembered: strangers are checked every time."""

    def __init__(self, seconds: float = 5.0, most: int = 1_000) -> None:
        self.seconds = seconds
        self.most = most
        self.until: dict[str, float] = {}

    def __contains__(self, key: str | None) -> bool:
        return key is not None and self.until.get(hash_key(key), 0.0) > time.monotonic()

    def remember(self, key: str | None) -> None:
        if key is None:
            return
        if len(self.until) >= self.most:
            self.until.clear()
        self.until[hash_key(key)] = time.monotonic() + self.seconds  # never the key itself


def _endpoint(
    services: Services, work: Work, group: GroupCommit[UsageRequest, Answer] | None = None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        limit = services.settings.max_body_bytes
        key = _bearer(request)
        workers = request.app[API_WORKERS]
        recent = request.app[RECENT_KEYS]
        loop = asyncio.get_running_loop()
        try:
            # The key before the body: strangers cannot make the server wait for (or parse)
            # anything. The work checks it again in its own transaction (a revoked key stops
            # at once), which costs one indexed read.
            # A key that verified in the last few seconds skips this hop (`RecentKeys`), so
            # a newly applied policy reaches the API within those seconds.
            if key not in recent:
                async with asyncio.timeout(ANSWER_WITHIN_SECONDS):
                    known = await loop.run_in_executor(
                        workers, _known_on_current_policy, services, key
                    )
                if not known:
                    return _refused_unread(UNAUTHORIZED)
                recent.remember(key)
            if request.content_length is not None and request.content_length > limit:
                return _too_large(limit)
            try:
                body = await read_body(request, authenticated=True)
            except web.HTTPRequestEntityTooLarge:  # aiohttp stops at client_max_size (= limit)
                return _too_large(limit)
            if isinstance(body, web.Response):
                return body
            if group is not None:
                answer = await group.submit((key, body))
            else:
                answer = await loop.run_in_executor(workers, work, services, key, body)
        except TimeoutError:  # the key check waited on a database that does not answer
            UNAVAILABLE_LOG.note(f"{request.path}: no answer within {ANSWER_WITHIN_SECONDS} s")
            answer = UNAVAILABLE
        except DATABASE_UNAVAILABLE as problem:
            UNAVAILABLE_LOG.note(f"{request.path}: {type(problem).__name__}")
            answer = UNAVAILABLE
        return _respond(answer)

    return handle


def _refused_unread(answer: Answer) -> web.Response:
    """Answer without reading the body: the connection closes (no draining what is left)."""
    response = _respond(answer)
    response.force_close()
    return response


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Under /api/ every failure is JSON: unknown routes, wrong methods, and crashes."""
    if not request.path.startswith("/api/v1/"):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as http:
        if http.status < 400:
            raise
        return _respond(_error(http.status, http.reason.lower().replace(" ", "_"), http.reason))
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return _respond(INTERNAL)


ROUTES: Mapping[str, Work] = {
    "/api/v1/usage": ingest_usage,
    "/api/v1/outcomes": ingest_outcomes,
    "/api/v1/authorize": authorize_call,
    "/api/v1/templates/render": render_template,
}


API_WORKERS = web.AppKey("api_workers", ThreadPoolExecutor)
RECENT_KEYS = web.AppKey("api_recent_keys", RecentKeys)
USAGE_GROUPS = web.AppKey("api_usage_groups", GroupCommit)
# Threads for the API's synchronous work: a bound on its database connections, and a plain
# executor hop (asyncio.to_thread also copies the context: ~40 us more per call).
API_WORKER_THREADS = 8
# A group commit holds about this many events at most (judged by body size, before parsing).
USAGE_GROUP_EVENTS = 2_000
EVENT_BYTES = 300
# PostgreSQL: this many groups written at once (their commits overlap).
USAGE_GROUPS_AT_ONCE = 4


def mount_api(app: web.Application, services: Services) -> None:
    app[API_WORKERS] = ThreadPoolExecutor(API_WORKER_THREADS, thread_name_prefix="tokenbot-api")
    app[RECENT_KEYS] = RecentKeys()
    # POST /api/v1/usage: requests arriving together share one transaction (group commit).
    app[USAGE_GROUPS] = GroupCommit(
        functools.partial(ingest_usage_group, services),
        app[API_WORKERS],
        max_items=USAGE_GROUP_EVENTS,
        size=lambda request: 1 + len(request[1]) // EVENT_BYTES,
        concurrency=1 if services.db.engine.dialect.name == "sqlite" else USAGE_GROUPS_AT_ONCE,
    )

    async def stop_workers(app: web.Application) -> None:
        app[API_WORKERS].shutdown(wait=True)

    app.on_cleanup.append(stop_workers)
    app.middlewares.append(json_errors)
    for path, work in ROUTES.items():
        group = app[USAGE_GROUPS] if work is ingest_usage else None
        app.router.add_post(path, _endpoint(services, work, group))
