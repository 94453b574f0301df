"""cli/common.guarded: the project's own errors (remediation/errors.py) are one line and their
exit code; anything else is a bug and says so, with its traceback."""
from __future__ import annotations

import pytest
from invoke import Context, Exit

from remediation.cli.common import EXIT_FAILED, EXIT_INPUT, EXIT_UNREACHABLE, guarded
from remediation.errors import HostUnreachable, InputError, RemoteError
from remediation.model import HostFacts


def run(exc: BaseException) -> tuple[Exit, str]:
    @guarded
    def task(c):
        raise exc

    with pytest.raises(Exit) as info:
        task(Context())
    return info.value, str(info.value.message)


@pytest.mark.parametrize("exc,code,line", [
    (InputError("bad key", "pb.yml", 3), EXIT_INPUT, "error: pb.yml:3: bad key"),
    (HostUnreachable("web1: connection refused"), EXIT_UNREACHABLE, "unreachable: web1: connection refused"),
    (RemoteError("web1: agent failed"), EXIT_FAILED, "error: web1: agent failed"),
])
def test_expected_failures_are_one_line_without_a_traceback(exc, code, line, capfd):
    exit_, message = run(exc)
    assert (exit_.code, message) == (code, line)
    assert "Traceback" not in capfd.readouterr().err


def test_no_single_master_is_an_expected_failure(capfd):
    exit_, message = run(_master_error(HostFacts("h", [], {}, "python3")))
    assert (exit_.code, message) == (EXIT_FAILED, "error: no gunicorn master process found in the process table")
    assert "Traceback" not in capfd.readouterr().err


def _master_error(facts: HostFacts) -> BaseException:
    try:
        facts.master()
    except LookupError as exc:  # still a LookupError for callers that ask for one
        return exc
    raise AssertionError("master() did not raise")


@pytest.mark.parametrize("exc", [KeyError("x"), IndexError("list index out of range"), TypeError("oops"),
                                 AttributeError("'NoneType' object has no attribute 'get'")])
def test_a_bug_shows_its_traceback_and_asks_for_a_report(exc, capfd):
    exit_, message = run(exc)
    assert exit_.code == EXIT_FAILED
    assert message.startswith("internal error:") and "report it" in message
    err = capfd.readouterr().err
    assert "Traceback (most recent call last)" in err and type(exc).__name__ in err
    assert message != f"error: {exc}"  # a KeyError no longer passes for bad input


def test_the_traceback_is_redacted(capfd):
    run(ValueError("postgres://app:s3cret@db/app"))
    assert "s3cret" not in capfd.readouterr().err


def test_invoke_exit_passes_through():
    exit_, message = run(Exit("aborted: nothing changed", code=EXIT_FAILED))
    assert (exit_.code, message) == (EXIT_FAILED, "aborted: nothing changed")
