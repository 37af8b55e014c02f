"""gunicorn's configuration file (spec.COMMAND: `--config container/gunicorn_conf.py`); the
settings and their environment variables are in container/server_config.py."""

import os

from container.server_config import gunicorn_settings

globals().update(gunicorn_settings(os.environ))
