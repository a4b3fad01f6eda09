"""Who is asking: the signed session cookie, CSRF tokens, and the security headers every
dashboard page carries.

The cookie is `<session token>.<HMAC-SHA256 of it>`: HttpOnly, SameSite=Lax (the first page
after a link opened from chat is a cross-site navigation; Strict would drop the cookie there),
Secure behind HTTPS, path /dashboard. A cookie whose signature does not verify is ignored
before the database is asked. CSRF tokens are the HMAC of the session token under a separate
label, so a form is only good for the session that rendered it; before sign-in (the SSO
buttons) a double-submit cookie plays that part.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from aiohttp import web

from bot.web.config import WebSettings

COOKIE = "tokenbot_session"
PRE_SESSION_COOKIE = "tokenbot_presession"
COOKIE_PATH = "/dashboard"

SECURITY_HEADERS = {
    # Styles: matplotlib's inline SVG carries style attributes; scripts: none at all.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self' https:; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _mac(settings: WebSettings, label: str, value: str) -> str:
    digest = hmac.new(settings.secret_key, f"{label}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign_cookie(settings: WebSettings, token: str) -> str:
    return f"{token}.{_mac(settings, 'session', token)}"


def unsign_cookie(settings: WebSettings, value: str | None) -> str | None:
    """The session token of a cookie whose signature verifies, else None."""
    if not value or "." not in value:
        return None
    token, _, mac = value.rpartition(".")
    return token if hmac.compare_digest(mac, _mac(settings, "session", token)) else None


def csrf_token(settings: WebSettings, session_token: str) -> str:
    return _mac(settings, "csrf", session_token)


def csrf_ok(settings: WebSettings, session_token: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(sent, csrf_token(settings, session_token))


def set_session_cookie(response: web.StreamResponse, settings: WebSettings, token: str) -> None:
    response.set_cookie(
        COOKIE,
        sign_cookie(settings, token),
        max_age=int(settings.session_lifetime.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="Lax",
        secure=settings.secure_cookies,
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path=COOKIE_PATH)


def session_token(request: web.Request, settings: WebSettings) -> str | None:
    return unsign_cookie(settings, request.cookies.get(COOKIE))
