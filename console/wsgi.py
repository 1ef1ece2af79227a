"""The console for a production WSGI server: `gunicorn -c python:console.gunicorn_conf console.wsgi:app`.

The application is built from the environment when the server imports this module (in each
worker, see `console.gunicorn_conf`). Migrations are not run here: the migrate Job
(Kubernetes) or the action server's start (deploy/Procfile) runs them once, and `/ready`
answers 503 until the database is at the newest revision.
"""

from __future__ import annotations

from console.app import create_app

app = create_app()
