"""A store location as it may be shown, stored or logged: a postgresql:// (or any other) URL without its password.

The one redaction every message, stored command, spool file and summary line goes through. It never raises: a URL
that does not parse (a port that is no number, an unclosed `[`) is still cut at the same places libpq would.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

# As libpq reads a URL: the user info runs to the first '@' before any '/' (a password may hold '?' and '#').
URL = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<netloc>(?:[^\s@/]*@)?[^/?#\s]*)(?P<path>[^?#\s]*)"
                    r"(?:\?(?P<query>[^#\s]*))?(?P<fragment>#\S*)?", re.IGNORECASE)
SECRET_PARAMS = ("password", "sslpassword")


def redact(text: str) -> str:
    """`text` with every URL in it (postgresql://...) shown without its password (`user:pw@` -> `user@`, a
    `password=` query parameter dropped); anything else unchanged."""
    return URL.sub(_redacted, text)


def secrets_in(text: str) -> list[str]:
    """The passwords of the URLs in `text`, as written and percent-decoded: what a driver's message
    must not echo."""
    found: list[str] = []
    for match in URL.finditer(text):
        userinfo, at, _ = match["netloc"].partition("@")
        written = [userinfo.partition(":")[2]] if at and ":" in userinfo else []
        written += [value for key, value in _params(match["query"]) if key.lower() in SECRET_PARAMS]
        found += [form for secret in written for form in (secret, unquote(secret)) if form]
    return sorted(set(found), key=len, reverse=True)


def scrub(message: str, url: str) -> str:
    """A driver's `message` about `url` with the URL redacted and each of its passwords replaced by '***'."""
    message = redact(message)
    for secret in secrets_in(url):
        message = message.replace(secret, "***")
    return message


def _redacted(match: re.Match[str]) -> str:
    userinfo, at, host = match["netloc"].partition("@")
    netloc = f"{userinfo.partition(':')[0]}@{host}" if at else match["netloc"]
    query = match["query"]
    if query is not None:
        kept = [part for part in query.split("&") if _key(part).lower() not in SECRET_PARAMS]
        query = "&".join(kept)
    return (match["scheme"] + netloc + match["path"] + (f"?{query}" if query else "")
            + (match["fragment"] or ""))


def _key(part: str) -> str:
    return unquote(part.partition("=")[0])


def _params(query: str | None) -> list[tuple[str, str]]:
    """The query's key=value pairs as written (values not decoded)."""
    return [(_key(part), part.partition("=")[2]) for part in (query or "").split("&") if part]
