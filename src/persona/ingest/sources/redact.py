"""Source URLs as shown in reports, logs and errors: passwords and secret-looking query values become ``***``."""

from __future__ import annotations

import re

#: a query parameter whose name contains one of these is a credential (``?api_key=``, ``?access_token=``, ``?password=``)
_SECRET_PARAM = re.compile(r"([?&;])([^=&;#]*(?:pass|pwd|secret|token|key|auth|sig|credential|session)[^=&;#]*)=([^&;#]*)",
                           re.IGNORECASE)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


def redact_url(url: str) -> str:
    """``url`` with the password of its user info and the values of secret-looking query parameters hidden.

    Args:
        url: a database (SQLAlchemy) or HTTP URL.

    Returns:
        The URL to show, e.g. ``postgresql://me:***@db.example.com/shop`` or ``https://api.example.com/v1?token=***``.
    """
    m = _SCHEME.match(url)
    if m is None:
        return _SECRET_PARAM.sub(r"\1\2=***", url)
    rest = url[m.end():]
    # the user info ends at the last '@' before the path; a password may itself hold '@' or '/'
    at = rest.rfind("@", 0, _authority_end(rest))
    if at >= 0:
        user, sep, _password = rest[:at].partition(":")
        rest = f"{user}:***{rest[at:]}" if sep else rest
    return m.group(0) + _SECRET_PARAM.sub(r"\1\2=***", rest)


def _authority_end(rest: str) -> int:
    """Where the host part ends: the first '/', '?' or '#' after the last '@' that precedes the query."""
    query = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, query)
    start = at + 1 if at >= 0 else 0
    ends = [i for i in (rest.find("/", start), rest.find("?", start), rest.find("#", start)) if i >= 0]
    return min(ends, default=len(rest))


def scheme_of(url: str) -> str:
    """How ``url`` starts, e.g. ``'postgresql://'`` (all that is safe to show of a URL that cannot be parsed)."""
    m = _SCHEME.match(url)
    return repr(m.group(0)) if m else "without a scheme:// prefix"
