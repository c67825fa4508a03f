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

# --- Production (issue 6): several web processes behind a proxy ----------

# Recycle a worker after this many requests (with jitter, so they do not
# all restart together): bounds slow growth in memory. 0 turns it off.
max_requests = env_int("PACSWEB_HTTP_MAX_REQUESTS", 0, minimum=0)
max_requests_jitter = max_requests // 10
# The worker heartbeat file on tmpfs where there is one: on a container's
# overlay filesystem a stalled write can look like a hung worker.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
# X-Forwarded-* headers are trusted from these addresses (the reverse
# proxy), so redirects and the RetrieveURLs that STOW-RS answers name the
# public scheme and host.
forwarded_allow_ips = os.environ.get("PACSWEB_FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn passes the request body through as it arrives (chunked or not):
# STOW-RS reads it in pieces and spools each part to disk, so no body size
# limit is needed here; PACSWEB_STOW_MAX_BYTES bounds a request instead.
# The proxy in front must not buffer whole uploads either (nginx:
# proxy_request_buffering off).
accesslog = os.environ.get("PACSWEB_HTTP_ACCESS_LOG") or None
