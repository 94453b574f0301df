"""The restarted gunicorn's worker class is proven from the process; the log only adds (pure)."""
from remediation.verify.worker_proof import LogEvidence, ProcessEvidence, judge_worker, log_evidence, logged_workers

BOOT = ("[2026-12-06 10:00:00 +0000] [{pid}] [INFO] Starting gunicorn 22.0.0\n"
        "[2026-12-06 10:00:00 +0000] [{pid}] [INFO] Listening at: http://0.0.0.0:8000 ({pid})\n"
        "[2026-12-06 10:00:00 +0000] [{pid}] [INFO] Using worker: {cls}\n")


def gthread_process(**kw):
    return ProcessEvidence(**{"master_pids": (4242,), "loaded": "gthread", "worker_threads": [8, 5], **kw})


def test_process_proof_passes_without_any_log():
    problems, warnings = judge_worker(gthread_process(), LogEvidence(None, "log file /x", "No such file"), "gthread")
    assert problems == []
    assert any("could not be read" in w and "No such file" in w for w in warnings)


def test_a_log_without_the_line_is_a_warning():
    problems, warnings = judge_worker(gthread_process(), LogEvidence("GET / 200\n"), "gthread")
    assert problems == [] and any("no `Using worker` line" in w for w in warnings)


def test_the_restarted_masters_own_line_agreeing_adds_nothing():
    log = LogEvidence(BOOT.format(pid=111, cls="gevent") + BOOT.format(pid=4242, cls="gthread"))
    assert judge_worker(gthread_process(), log, "gthread") == ([], [])


def test_the_restarted_masters_own_line_disagreeing_is_a_conflict():
    log = LogEvidence(BOOT.format(pid=4242, cls="gevent"))
    problems, _ = judge_worker(gthread_process(), log, "gthread")
    assert any("restarted master (pid 4242) logged `Using worker: gevent`" in p for p in problems)


def test_a_stale_line_of_the_old_master_is_ignored_with_a_warning():
    # supervisor's AUTO log of the old process, or a file the restarted gunicorn no longer writes
    log = LogEvidence(BOOT.format(pid=111, cls="gevent"))
    problems, warnings = judge_worker(gthread_process(), log, "gthread")
    assert problems == [] and any("not from the restarted master" in w for w in warnings)


def test_a_containers_master_logs_its_own_namespace_pid():
    log = LogEvidence(BOOT.format(pid=1, cls="gevent"))
    problems, _ = judge_worker(gthread_process(master_pids=(1, 4242)), log, "gthread")
    assert problems and "gevent" in problems[0]


def test_the_loader_decides_when_it_disagrees():
    problems, _ = judge_worker(gthread_process(loaded="gevent", worker_threads=[1, 1]),
                               LogEvidence(BOOT.format(pid=4242, cls="gthread")), "gthread")
    assert any("loads worker class gevent" in p for p in problems)
    assert any("no gthread pool" in p for p in problems)


def test_gthread_without_a_pool_fails_even_when_the_log_agrees():
    problems, _ = judge_worker(gthread_process(worker_threads=[1, 1]),
                               LogEvidence(BOOT.format(pid=4242, cls="gthread")), "gthread")
    assert problems == ["worker thread counts [1, 1]: no gthread pool is running"]


def test_no_loader_answer_falls_back_to_the_pool_for_gthread_only():
    gthread = gthread_process(loaded=None, loaded_error="ImportError: x")
    problems, warnings = judge_worker(gthread, LogEvidence(""), "gthread")
    assert problems == [] and any("thread pools" in w for w in warnings)
    problems, _ = judge_worker(ProcessEvidence((4242,), None, "ImportError: x", [1, 1]), LogEvidence(""), "sync")
    assert problems and "cannot tell" in problems[0]


def test_sync_target_and_class_paths():
    sync = ProcessEvidence((4242,), "sync", None, [1, 1, 1, 1])
    assert judge_worker(sync, LogEvidence(BOOT.format(pid=4242, cls="sync")), "sync") == ([], [])
    dotted = gthread_process(loaded="gunicorn.workers.gthread.ThreadWorker")
    assert judge_worker(dotted, LogEvidence(BOOT.format(pid=4242, cls="gthread")), "gthread")[0] == []


def test_logged_workers_with_and_without_a_pid():
    text = BOOT.format(pid=7, cls="gthread") + "Using worker: sync\n"
    assert logged_workers(text) == [(7, "gthread"), (None, "sync")]


def test_log_evidence_from_agent_replies():
    source = {"kind": "file", "path": "/var/log/app.log", "key": "app"}
    assert log_evidence(source, "text").text == "text"
    missing = log_evidence(source, {"error": "[Errno 2] No such file"})
    assert missing.text is None and "No such file" in missing.error and "/var/log/app.log" in missing.where
    assert log_evidence(None, None).text is None


def test_judge_remediates_a_host_whose_log_cannot_be_read():
    """The whole verdict: a reused, gthread host passes with its log gone (a warning says so)."""
    from remediation.config.playbook import load_playbook
    from remediation.verify.measure import Measurement
    from remediation.verify.verdict import judge, metrics

    playbook = load_playbook()
    after = Measurement(requests=30, request_ms=[20.0] * 30, new_db_connections=0, db_counter_scope="host")
    after.worker_threads = [9, 9]
    result = metrics({"worker_class": "gthread", "workers": 2, "threads": 8}, {"default": {"CONN_MAX_AGE": 600}}, after)
    before = {"request_ms_p95": 1000.0, "new_db_connections": 30}
    verdict = judge(before, result, after, playbook, playbook.target, gthread_process(worker_threads=[9, 9]),
                    LogEvidence(None, "log file /var/log/supervisor/schoolsite.log", "[Errno 13] Permission denied"))
    assert verdict.problems == [], verdict.problems
    assert any("Permission denied" in w for w in verdict.warnings)


def test_journal_lines_read_by_the_masters_pid_are_its_own_whatever_their_format():
    """#23 item 4: a unit logging only to the journal, in a format without the pid (syslog-style
    `--log-syslog`, or a custom access/error format): the journal is read by the restarted master's
    _PID, so its lines are attributed to it (evidence only: the process decided above)."""
    from remediation.managers.systemd import Systemd
    from remediation.model import RestartMethod

    source = Systemd().proof_log_source(RestartMethod("systemd", program="gunicorn@shop.service"), {}, 4242)
    assert source == {"kind": "journal", "unit": "gunicorn@shop.service", "key": "app", "pid": 4242}
    custom = "gunicorn: Starting gunicorn 22.0.0\ngunicorn: Using worker: gevent\n"
    problems, _ = judge_worker(gthread_process(), log_evidence(source, custom), "gthread")
    assert any("restarted master (pid 4242) logged `Using worker: gevent`" in p for p in problems)
    ok = log_evidence(source, custom.replace("gevent", "gthread"))
    assert judge_worker(gthread_process(), ok, "gthread") == ([], [])
    # the same text from an unfiltered source cannot be attributed: a warning, never a verdict
    problems, warnings = judge_worker(gthread_process(), log_evidence({"kind": "journal", "unit": "x"}, custom), "gthread")
    assert problems == [] and any("not from the restarted master" in w for w in warnings)


def test_the_agent_asks_journald_for_the_unit_and_pid():
    from agent_payload import hostagent

    assert hostagent.journal_argv({"unit": "gunicorn@shop.service", "pid": 4242}) == [
        "journalctl", "--no-pager", "-o", "cat", "_SYSTEMD_UNIT=gunicorn@shop.service", "_PID=4242"]
    assert hostagent.journal_argv({"unit": "shop.service"})[-2:] == ["-u", "shop.service"]


def test_after_a_hup_no_using_worker_line_is_expected_and_a_gevent_one_still_counts():
    """gunicorn logs `Using worker` at start only: after a HUP the master's lines since its
    `Handling signal: hup` hold none, which is no reason for a warning; a line there still counts."""
    silent = LogEvidence("[4242] [INFO] Booting worker with pid: 4300\n", "log file /x", reloaded=True)
    assert judge_worker(gthread_process(), silent, "gthread") == ([], [])
    unreloaded = LogEvidence("[4242] [INFO] Booting worker with pid: 4300\n", "log file /x")
    assert judge_worker(gthread_process(), unreloaded, "gthread")[1]  # a restart without the line: a warning
    wrong = LogEvidence(BOOT.format(pid=4242, cls="gevent"), "log file /x", reloaded=True)
    assert judge_worker(gthread_process(), wrong, "gthread")[0]
