"""Ansible host patterns in inventories: `web[01:10]`, `db-[a:c]`, `[1:9:2]`, and `name:port`
(pure; the rules of Ansible's expand_hostname_range and parse_address, for host names)."""
from __future__ import annotations

import re
import string

from remediation.errors import InputError

_PORT = re.compile(r"^(?P<host>(?:[^:\[\]]|\[[^\]]*\])+):(?P<port>[0-9]+)$")


def split_port(pattern: str) -> tuple[str, int | None]:
    """`web1:2222` -> ("web1", 2222); a name with no `:port` (or an IPv6 address) is kept whole."""
    m = _PORT.match(pattern)
    if m and pattern.count(":") - sum(part.count(":") for part in re.findall(r"\[[^\]]*\]", pattern)) == 1:
        return m.group("host"), int(m.group("port"))
    return pattern, None


def expand(pattern: str, where: str | None = None, line: int | None = None) -> list[str]:
    """Every host name a range pattern stands for, in order (a name without `[` is itself)."""
    if "[" not in pattern:
        return [pattern]
    head, sep, rest = pattern.partition("[")
    body, sep2, tail = rest.partition("]")
    if not sep2:
        raise InputError(f"host range {pattern!r} has no closing ']'", where, line)
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise InputError(f"host range {pattern!r} must be [begin:end] or [begin:end:step]", where, line)
    beg, end = bounds[0] or "0", bounds[1]
    step = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise InputError(f"host range {pattern!r} must give an end", where, line)
    if not step.isdigit() or int(step) < 1:
        raise InputError(f"host range {pattern!r}: the step must be a positive number", where, line)
    if beg[0] == "0" and len(beg) > 1:
        if len(beg) != len(end):
            raise InputError(f"host range {pattern!r}: begin and end must have the same width", where, line)
        width = len(beg)
    else:
        width = 0
    letters = string.ascii_letters
    if beg in letters and end in letters and len(beg) == len(end) == 1:
        i, j = letters.index(beg), letters.index(end)
        if i > j:
            raise InputError(f"host range {pattern!r} must have begin <= end", where, line)
        seq = list(letters[i:j + 1:int(step)])
    elif beg.isdigit() and end.isdigit():
        seq = [str(n).zfill(width) for n in range(int(beg), int(end) + 1, int(step))]
    else:
        raise InputError(f"host range {pattern!r}: bounds must be numbers or single letters", where, line)
    names: list[str] = []
    for item in seq:
        names += expand(head + item + tail, where, line)
    return names
