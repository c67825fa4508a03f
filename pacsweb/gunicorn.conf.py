"""gunicorn settings for `make run` (pacsweb/run.py passes --bind).

gthread workers: each request gets a thread, so a long STOW-RS upload
(streamed, not buffered) holds one thread while the others keep serving.
"""

from pacsweb.env import env_int

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
