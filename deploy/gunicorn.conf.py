"""Gunicorn settings for the web container (`gunicorn --config deploy/gunicorn.conf.py fido.wsgi:application`).

Every value can be tuned through the environment; the defaults suit one container on a small host.
"""

import contextlib
import fcntl
import os
import shutil
import tempfile

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("GUNICORN_WORKERS", str(2 * (os.cpu_count() or 1) + 1)))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# A request that takes longer than this is killed and its worker replaced (the service answers within 5 s).
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

# --- Metrics (fido/metrics.py) ---------------------------------------------------------------------
# Every worker writes its request counters to files in PROMETHEUS_MULTIPROC_DIR, and a scrape sums them all,
# whichever worker answers it. The directory is the one the environment names (emptied at start: counts of an
# earlier run are not this run's), or else a fresh one in memory, removed when gunicorn exits.
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# fido/metrics.py takes this lock shared while a scrape reads the files.
METRICS_LOCK_FILE = "fold.lock"
_made_metrics_dir = None


def on_starting(server):
    """Before any worker starts (workers are forks of this process and inherit the variable)."""
    global _made_metrics_dir
    path = os.environ.get(METRICS_DIR)
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.remove(os.path.join(path, name))
    else:
        shm = "/dev/shm"  # noqa: S108 - memory, like worker_tmp_dir; a directory of our own (mkdtemp)
        path = _made_metrics_dir = tempfile.mkdtemp(prefix="fido-metrics-", dir=shm if os.path.isdir(shm) else None)
        os.environ[METRICS_DIR] = path


def child_exit(server, worker):
    """Fold the exited worker's counters into one archive per kind, so that recycled workers (max_requests)
    never leave a growing heap of files for every scrape to read; counts stay whole and monotonic."""
    # Imported here: prometheus_client picks its mode at import, and this process imports it only once
    # on_starting has set the directory (so workers, its forks, inherit the multiprocess mode).
    from prometheus_client.mmap_dict import MmapedDict, mmap_key
    from prometheus_client.multiprocess import MultiProcessCollector

    path = os.environ[METRICS_DIR]
    with open(os.path.join(path, METRICS_LOCK_FILE), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for kind in ("counter", "histogram"):
            exited = os.path.join(path, f"{kind}_{worker.pid}.db")
            if not os.path.exists(exited):
                continue
            archive = os.path.join(path, f"{kind}_archive.db")
            sources = [file for file in (archive, exited) if os.path.exists(file)]
            merged = MultiProcessCollector.merge(sources, accumulate=False)
            building = archive + ".new"
            with contextlib.suppress(FileNotFoundError):
                os.remove(building)
            store = MmapedDict(building)
            for metric in merged:
                for sample in metric.samples:
                    labels = sample.labels
                    key = mmap_key(metric.name, sample.name, list(labels), list(labels.values()), metric.documentation)
                    store.write_value(key, sample.value, sample.timestamp or 0.0)
            store.close()
            os.replace(building, archive)
            os.remove(exited)


def on_exit(server):
    if _made_metrics_dir:
        shutil.rmtree(_made_metrics_dir, ignore_errors=True)
