"""Keep secrets out of everything the tool prints or stores as a report.

Diffs and error messages can carry settings lines with passwords, URLs with
credentials or secret-looking assignments; they are masked before they leave the
process. File backups are not reports: they are kept byte-identical, mode 0600.
"""
from __future__ import annotations

import re

MASK = "********"
SECRET_WORDS = r"(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|ACCESS_KEY|CREDENTIALS?)"
# Matches start only where a scheme / key word starts (lookbehind, \b): linear time on long words.
# The password runs to the last `@` before the host: an unencoded `@` in it must not leak the rest.
_URL_CREDENTIALS = re.compile(r"(?<![a-zA-Z0-9+.-])(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s'\"]*):(?P<pw>[^/\s'\"]+)@")
_KEY_VALUE = re.compile(
    # `]?`: a subscript assignment, DATABASES["default"]["PASSWORD"] = ...
    r"(?P<key>['\"]?\b\w*" + SECRET_WORDS + r"\w*['\"]?\]?\s*[:=]\s*)"
    # a quoted value: Python prefixes (r'', b'', f''), triple quotes, the other quote or escapes inside
    r"(?:(?P<prefix>[rRbBuUfF]{0,2})(?P<quote>'''|\"\"\"|['\"])(?P<value>(?:\\[^\n]|(?!(?P=quote))[^\\\n])*\\?)(?P=quote)"
    r"|(?P<bare>[^'\"\s,)}\[(]+)(?![\[(.\w]))",
    re.IGNORECASE)


def redact(text: str) -> str:
    """Mask credentials in URLs and the values of secret-named keys."""
    if not text:
        return text
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _KEY_VALUE.sub(lambda m: f"{m['key']}{m['prefix'] or ''}{m['quote'] or ''}{MASK}{m['quote'] or ''}", text)
