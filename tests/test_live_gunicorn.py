"""The live server fixture's own rule for what in gunicorn's log fails a test."""

from live_gunicorn import troubles

SHUTDOWN = """[2026-12-03 09:21:12 +0000] [17344] [INFO] Handling signal: int
[2026-12-03 09:21:12 +0000] [17346] [ERROR] Error handling request /tasks.csv
Traceback (most recent call last):
  File "gunicorn/workers/sync.py", line 184, in handle_request
    resp.close()
  File "gunicorn/workers/base.py", line 199, in handle_quit
    sys.exit(0)
SystemExit: 0
[2026-12-03 09:21:12 +0000] [17346] [INFO] Worker exiting (pid: 17346)
"""
APP_ERROR = """[2026-12-03 09:21:12 +0000] [17346] [ERROR] Error handling request /tasks.csv
Traceback (most recent call last):
  File "tracker/tasks/export.py", line 90, in stream
    raise RuntimeError("boom")
RuntimeError: boom
[2026-12-03 09:21:12 +0000] [17346] [INFO] Worker exiting (pid: 17346)
"""


def test_the_stops_own_exit_is_not_trouble_but_an_app_error_is():
    assert troubles(SHUTDOWN) == []
    found = troubles(SHUTDOWN + APP_ERROR)
    assert len(found) == 2 and "Error handling request" in found[0] and "Traceback" in found[1]
