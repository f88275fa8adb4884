"""course_app: the shared FastAPI app of the course, and the tools around it.

Notebooks start with::

    from course_app import start_server, check, hint
    server = start_server()        # the shared app on a free port, in a background thread
"""

from course_app.grading import check, hint
from course_app.server import start_server, stop_server

__all__ = ["check", "hint", "start_server", "stop_server"]
