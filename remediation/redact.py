"""Keep secrets out of everything the tool prints or stores as a report.

Diffs and error messages can carry settings lines with passwords, URLs with
credentials or secret-looking assignments; they are masked before they leave the
process. File backups are not reports: they are kept byte-identical, mode 0600.
"""
from __future__ import annotations

import re

MASK = "********"
SECRET_WORDS = r"(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|ACCESS_KEY|CREDENTIALS?)"
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s'\"]*):(?P<pw>[^@/\s'\"]+)@")
_KEY_VALUE = re.compile(
    r"(?P<key>['\"]?\w*" + SECRET_WORDS + r"\w*['\"]?\s*[:=]\s*)"
    r"(?:(?P<quote>['\"])(?P<value>[^'\"]*)(?P=quote)|(?P<bare>[^'\"\s,)}\[(]+)(?![\[(.\w]))",
    re.IGNORECASE)


def redact(text: str) -> str:
    """Mask credentials in URLs and the values of secret-named keys."""
    if not text:
        return text
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _KEY_VALUE.sub(lambda m: f"{m['key']}{m['quote'] or ''}{MASK}{m['quote'] or ''}", text)
