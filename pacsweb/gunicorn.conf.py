"""gunicorn settings, for `make run` and for the production image.

gthread workers: each request gets a thread, so a long STOW-RS upload
(streamed, not buffered) holds one thread while the others keep serving.
"""

import os

from pacsweb.env import env_int

# The address comes from the Django settings, the one place that reads
# PACSWEB_HTTP_HOST and PACSWEB_HTTP_PORT.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pacsweb.settings")
from django.conf import settings  # noqa: E402

_host = settings.PACSWEB_HTTP_HOST
bind = [
    f"[{_host}]:{settings.PACSWEB_HTTP_PORT}"
    if ":" in _host
    else f"{_host}:{settings.PACSWEB_HTTP_PORT}"
]
wsgi_app = "pacsweb.wsgi:application"
worker_class = "gthread"
workers = env_int("PACSWEB_HTTP_WORKERS", 2, minimum=1)
threads = env_int("PACSWEB_HTTP_THREADS", 8, minimum=1)
# The worker heartbeat, not a request limit: with gthread a slow upload
# does not block the heartbeat, so uploads may take longer than this.
timeout = 60
graceful_timeout = 20
keepalive = 5
# The control socket defaults to one path in $HOME, which a second
# instance (another checkout, a test) would fight over.
control_socket_disable = True
# Errors and start-up to the console; no per-request access log by default.
errorlog = "-"
loglevel = "info"
