"""Gunicorn settings for the web container (`gunicorn --config deploy/gunicorn.conf.py fido.wsgi:application`).

Every value can be tuned through the environment; the defaults suit one container on a small host.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("GUNICORN_WORKERS", str(2 * (os.cpu_count() or 1) + 1)))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# A request that takes longer than this is killed and its worker replaced (SPEC §7: answers within 5 s).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so that a slow leak never grows into an outage.
max_requests = 5000
max_requests_jitter = 500
# Heartbeat files in memory, not on a possibly slow container filesystem.
worker_tmp_dir = "/dev/shm"  # noqa: S108 - gunicorn's documented setting for containers
# fido.logs writes one JSON line per request; gunicorn's access log would repeat it without the client.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Only the proxy in front may say a request came over HTTPS: X-Forwarded-Proto (the one header it sets,
# deploy/nginx/fido.conf) is believed from FORWARDED_ALLOW_IPS alone, the proxy's address (docker-compose.yml
# sets it); from anyone else the request is plain HTTP, whatever it claims. The service reads the same
# variable for X-Forwarded-For (fido/proxy.py). No other forwarding header is taken from anyone.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
forwarder_headers = ""
# The proxy refuses what is too large itself, in the service's JSON error shape; gunicorn's own refusals
# are HTML, so its limits must never be the tighter ones. The request line: nginx takes up to 8 KiB with
# its end, 8190 bytes without, which is also gunicorn's maximum. A header line: nginx's 8 KiB, with room for
# the space it puts after the colon. Header lines: more than nginx's 33 KiB of headers can hold.
limit_request_line = 8190
limit_request_field_size = 16384
limit_request_fields = 8000
# No runtime control socket: nothing uses it, and it would need a writable home directory.
control_socket_disable = True
