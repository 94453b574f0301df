"""The one patched-text validator: does a rewritten file still parse as its kind?

Every writer uses it: the in-memory audit before it offers a patch, `audit --write` before
it replaces a file, and `remediate` before it sends a file to the host. The kind is the one
the tree's classifier gave the file (classify.kind_of, or the config a command names), so a
`gunicorn.conf` is checked as Python and a supervisor `.conf` as ini, the same everywhere.
"""
from __future__ import annotations

import configparser
from typing import Optional

PYTHON_KINDS = ("python", "python-maybe")


def check(path: str, kind: Optional[str], text: str, *, templated: bool = False) -> Optional[str]:
    """None when `text` parses as `kind`, else the parser's first line. A template is checked
    with its template syntax masked (same offsets), as the tree reads it."""
    checked = text
    if templated:
        from remediation.discovery.sources.jinja import mask

        checked = mask(text).masked
    try:
        if kind in PYTHON_KINDS or path.endswith(".py"):
            compile(checked, path, "exec", dont_inherit=True)
        elif kind == "yaml":
            from remediation.discovery.sources.yamlfiles import compose_nodes

            compose_nodes(checked)
        elif kind == "supervisor":
            parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False,
                                                  interpolation=None)
            parser.read_string(checked)
    except Exception as exc:  # any parser error means "do not write this"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def host_check(kind: Optional[str], path: str) -> Optional[str]:
    """What the host agent re-checks with the app's own interpreter before the atomic move."""
    return "python" if kind in PYTHON_KINDS or path.endswith(".py") else None


def check_patched(result, path: str) -> Optional[str]:
    """`check` on a patched file of an AuditResult, with the kind the tree gave it."""
    return check(path, result.kinds.get(path), result.patched[path], templated=path in result.templated)


def host_check_patched(result, path: str) -> Optional[str]:
    return host_check(result.kinds.get(path), path)
