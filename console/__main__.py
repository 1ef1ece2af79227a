"""`python -m console`: serve the console on CONSOLE_PORT (127.0.0.1 unless CONSOLE_HOST says otherwise).

Werkzeug's threaded server is enough for a local run (`make run`); in production gunicorn
serves `console.wsgi:app` behind the TLS-terminating proxy (console/gunicorn_conf.py,
deploy/Procfile).
"""

from __future__ import annotations

import logging
import os

from werkzeug.serving import run_simple

from casework.db import upgrade
from casework.settings import load_settings
from console.app import create_app
from console.config import ConsoleSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    settings = ConsoleSettings.from_env()
    upgrade(load_settings().database_url)
    app = create_app(settings)
    run_simple(os.environ.get("CONSOLE_HOST", "127.0.0.1"), settings.port, app, threaded=True)


if __name__ == "__main__":
    main()
