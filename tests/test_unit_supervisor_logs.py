"""The supervisor program's log: where supervisord itself says it writes (pure)."""
from agent_payload import hostagent
from remediation.managers.supervisor import Supervisor, gunicorn_log
from remediation.model import RemoteFile, RestartMethod

AUTO = "/var/log/supervisor/schoolsite-stderr---supervisor-8xq1z0.log"


def test_getprocessinfo_names_the_auto_files():
    info = {"name": "schoolsite", "group": "schoolsite", "pid": 42, "logfile": "/var/log/supervisor/out.log",
            "stdout_logfile": "/var/log/supervisor/schoolsite-stdout---supervisor-1.log", "stderr_logfile": AUTO}
    assert hostagent.supervisor_log_files(info) == {
        "stdout_logfile": "/var/log/supervisor/schoolsite-stdout---supervisor-1.log", "stderr_logfile": AUTO,
        "pid": 42, "via": "xmlrpc"}


def test_gunicorn_logs_to_stderr_unless_redirected():
    assert gunicorn_log({"stdout_logfile": "/o.log", "stderr_logfile": AUTO}) == AUTO
    # redirect_stderr=true: supervisord reports no stderr file, stderr is in stdout's
    assert gunicorn_log({"stdout_logfile": "/o.log", "stderr_logfile": ""}) == "/o.log"
    assert gunicorn_log({"stdout_logfile": "", "stderr_logfile": ""}) is None  # NONE: no log kept


def test_supervisords_answer_wins_over_the_program_file():
    program = "[program:schoolsite]\ncommand=gunicorn app\nstdout_logfile=/var/log/old.log\n"
    files = {"/etc/supervisor/conf.d/s.conf": RemoteFile("/etc/supervisor/conf.d/s.conf", program.encode(), "x")}
    asked = RestartMethod("supervisor", program="schoolsite", log_files={"stdout_logfile": "", "stderr_logfile": AUTO})
    assert Supervisor().log_source(asked, files)["path"] == AUTO
    # the socket could not be asked: the program's own stdout_logfile, as before
    assert Supervisor().log_source(RestartMethod("supervisor", program="schoolsite"), files)["path"] == "/var/log/old.log"
    none = RestartMethod("supervisor", program="schoolsite", log_files={"stdout_logfile": "", "stderr_logfile": ""})
    assert Supervisor().log_source(none, files) is None
