"""When the patch may be written while the baseline is still measured, and how the bench counts it."""
from bench.run import host_wait
from remediation.plan.decide import files_unread_until_restart


def test_overlap_only_when_gunicorn_rereads_nothing_before_the_restart():
    quiet = {"reload": False, "max_requests": 0, "preload_app": False}
    assert files_unread_until_restart(quiet)
    assert not files_unread_until_restart({**quiet, "reload": True})
    # a recycled worker imports the settings anew unless the master preloaded the app
    assert not files_unread_until_restart({**quiet, "max_requests": 1000})
    assert files_unread_until_restart({**quiet, "max_requests": 1000, "preload_app": True})


def test_no_overlap_without_the_live_view():
    assert not files_unread_until_restart({})
    assert not files_unread_until_restart({"worker_class": "gevent", "preload_app": False})


def test_host_wait_credits_only_the_baseline_requests_own_time():
    """Patching overlapped with the baseline hides only as long as the requests ran: a check-config
    that outlasts them is the tool's own time."""
    marks = [(0.0, "inspect"), (2.0, "baseline"), (2.2, "apply"), (2.5, "check-config"),
             (13.0, "baseline-wait"), (14.0, "restart"), (18.0, "verify"), (26.0, "end")]
    assert abs(host_wait(marks, baseline_requests_s=3.0) - (3.0 + 4.0 + 8.0)) < 1e-9


def test_host_wait_counts_sequential_patching_as_the_tool_s():
    marks = [(0.0, "inspect"), (2.0, "baseline"), (14.0, "apply"), (14.3, "check-config"),
             (15.0, "restart"), (19.0, "verify"), (27.0, "end")]
    assert abs(host_wait(marks, baseline_requests_s=11.5) - (11.5 + 4.0 + 8.0)) < 1e-9


def test_host_wait_of_a_journal_without_the_requests_time_counts_the_baseline_stages():
    marks = [(0.0, "inspect"), (2.0, "baseline"), (14.0, "apply"), (14.3, "check-config"),
             (15.0, "restart"), (19.0, "verify"), (27.0, "end")]
    assert abs(host_wait(marks) - (12.0 + 4.0 + 8.0)) < 1e-9
