"""The image's WSGI entry point (`container.app:application`, spec.COMMAND): the region's API,
built when gunicorn loads it, so a misconfigured task fails before it takes traffic."""

from __future__ import annotations

from container.wsgi import create_app

application = create_app()
