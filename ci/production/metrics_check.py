"""The production stage's look at /metrics: scraped from the real gunicorn (the shipped configuration,
GUNICORN_WORKERS workers) throughout one broker's run, as Prometheus would.

At the start: the scrape parses as Prometheus text and carries every documented metric; requests answered by
any worker are all counted (a count of requests nobody else makes rises by exactly their number), and still
are after a worker exits and gunicorn replaces it; with the database refusing connections the scrape answers,
reporting it down. Then a scrape every half second until the end, judged: every scrape answered 200 and
promptly (also with the broker killed, reported down); the outbox's pending count rose while the broker was
down and drained to 0 after; the webhook push refused once showed as a retrying push; no event failed.

Hooked into run.py: `MetricsWatch(run)` once the deployment answers, `finish()` before it stops.
"""

import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from services import StageError, wait_until

# Every metric docs/metrics.md describes that a deployment with a broker reports in every scrape.
EXPECTED = {
    "fido_http_requests_total",
    "fido_http_request_duration_seconds_bucket",
    "fido_database_up",
    "fido_outbox_pending_events",
    "fido_outbox_oldest_pending_age_seconds",
    "fido_outbox_failed_events",
    "fido_outbox_oldest_done_age_seconds",
    "fido_outbox_retention_seconds",
    "fido_idempotency_oldest_record_age_seconds",
    "fido_webhook_pushes",
    "fido_webhook_retrying_pushes",
    "fido_webhook_failed_attempts",
    "fido_webhook_recent_pushes",
    "fido_celery_broker_up",
    "fido_celery_queue_messages",
}
# Unauthenticated requests: no one else in the stage makes them (its API client has a token, its probes are
# answered before the metrics middleware), so their count moves only with ours.
COUNTED_PATH = "/api/v1/alerts/"
COUNTED = {"route": "api/v1/alerts/", "method": "GET", "status": "401"}
SCRAPE_EVERY = 0.5
SCRAPE_WITHIN = 10  # seconds: Prometheus' default scrape timeout


def worker_pids(master: int) -> set[int]:
    pids = set()
    for task in Path(f"/proc/{master}/task").iterdir():
        try:
            pids |= {int(pid) for pid in (task / "children").read_text().split()}
        except OSError:
            continue
    return pids


class MetricsWatch:
    """Scrapes one broker run's /metrics from start to finish; reports through the run's Report."""

    def __init__(self, run):
        self.run, self.report = run, run.report
        self.url = run.probe.base_url + "/metrics"
        self.scrapes: list[dict] = []
        self.stopped = threading.Event()
        self.check_format_and_counts()
        self.check_database_down()
        self.thread = threading.Thread(target=self.watch, name="metrics-watch", daemon=True)
        self.thread.start()

    def scrape(self) -> dict:
        """One scrape: {"status", "seconds", "samples": {(name, labels): value}}; status None when it failed."""
        started = time.monotonic()
        try:
            with urllib.request.urlopen(self.url, timeout=SCRAPE_WITHIN) as response:  # noqa: S310 - 127.0.0.1
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, ""
        except OSError:
            status, text = None, ""
        samples = {}
        if status == 200:
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return {"at": started, "status": status, "seconds": time.monotonic() - started, "samples": samples}

    @staticmethod
    def value(scrape: dict, name: str, **labels) -> float | None:
        return scrape["samples"].get((name, tuple(sorted(labels.items()))))

    def counted(self) -> float:
        return self.value(self.scrape(), "fido_http_requests_total", **COUNTED) or 0.0

    def check_format_and_counts(self) -> None:
        first = self.scrape()
        names = {name for name, _ in first["samples"]}
        # The request counter appears once a request was counted.
        missing = EXPECTED - names - {"fido_http_requests_total", "fido_http_request_duration_seconds_bucket"}
        self.report.check(
            "/metrics from gunicorn: 200, Prometheus text, every documented metric",
            first["status"] == 200 and not missing,
            f"HTTP {first['status']}" + (f", missing {sorted(missing)}" if missing else ""),
        )
        before = self.counted()
        for _ in range(40):
            self.run.probe.get(COUNTED_PATH)
        after = self.counted()
        self.report.check(
            "requests answered by every gunicorn worker are counted, whichever worker answers the scrape",
            after - before == 40,
            f"{after - before:g} of 40",
        )
        master = self.run.web.pid
        workers = worker_pids(master)
        exiting = min(workers)
        os.kill(exiting, signal.SIGTERM)
        try:
            wait_until(
                lambda: exiting not in worker_pids(master) and len(worker_pids(master)) == len(workers),
                seconds=30,
                what="gunicorn to replace the worker",
            )
            replaced = True
        except StageError:
            replaced = False
        kept = self.counted()
        self.report.check(
            "a worker's counts survive its exit (gunicorn replaced it)",
            replaced and kept == after,
            f"{len(workers)} workers, counted {after:g} before and {kept:g} after",
        )

    def check_database_down(self) -> None:
        self.run.database.refuse_connections(True)
        try:
            down = self.scrape()
        finally:
            self.run.database.refuse_connections(False)
        back = wait_until(
            lambda: (lambda s: s if self.value(s, "fido_database_up") == 1 else None)(self.scrape()),
            seconds=15,
            what="/metrics to see the database back",
        )
        self.report.check(
            "with the database refusing connections /metrics answers 200 with fido_database_up 0 (then 1 again)",
            down["status"] == 200 and self.value(down, "fido_database_up") == 0 and bool(back),
            f"HTTP {down['status']}, fido_database_up {self.value(down, 'fido_database_up')}, {down['seconds']:.2f} s",
        )

    def watch(self) -> None:
        while not self.stopped.is_set():
            self.scrapes.append(self.scrape())
            self.stopped.wait(SCRAPE_EVERY)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(SCRAPE_WITHIN + 5)

    def finish(self) -> None:
        """Stop scraping and judge the run's scrapes."""
        self.stop()
        last = self.scrape()
        scrapes = [*self.scrapes, last]
        bad = [(s["status"], round(s["seconds"], 1)) for s in scrapes if s["status"] != 200 or s["seconds"] > 5]
        self.report.check(
            "every scrape answered 200 within 5 s, outages included",
            not bad,
            f"{len(scrapes)} scrapes, slowest {max(s['seconds'] for s in scrapes):.2f} s"
            + (f", bad {bad[:5]}" if bad else ""),
        )
        answered = [s for s in scrapes if s["status"] == 200]
        outage = [s for s in answered if self.value(s, "fido_celery_broker_up") == 0]
        pending_in_outage = [self.value(s, "fido_outbox_pending_events") or 0 for s in outage]
        self.report.check(
            "broker down: reported by fido_celery_broker_up 0, and the outbox's pending count rises",
            bool(outage) and max(pending_in_outage, default=0) >= 9,
            f"{len(outage)} scrapes in the outage, pending up to {max(pending_in_outage, default=0):g}",
        )
        if outage:
            returned = max(s["at"] for s in outage)
            after = [s for s in answered if s["at"] > returned]
            drained = next((s for s in after if self.value(s, "fido_outbox_pending_events") == 0), None)
            self.report.check(
                "... and drains to 0 once the broker is back",
                drained is not None and self.value(last, "fido_outbox_pending_events") == 0,
                "never drained" if drained is None else f"0 pending {drained['at'] - returned:.1f} s after the outage",
            )
            if drained is not None:
                self.report.figure(
                    f"{self.run.kind}: seconds from the broker's return to 0 pending on /metrics",
                    f"{drained['at'] - returned:.1f}",
                )
            oldest = max((self.value(s, "fido_outbox_oldest_pending_age_seconds") or 0 for s in outage), default=0)
            self.report.figure(
                f"{self.run.kind}: oldest pending event's age seen during the outage (s)", f"{oldest:.1f}"
            )
        retrying = max((self.value(s, "fido_webhook_retrying_pushes") or 0 for s in answered), default=0)
        self.report.check("the refused webhook push showed in fido_webhook_retrying_pushes", retrying >= 1)
        failed = max((self.value(s, "fido_outbox_failed_events") or 0 for s in answered), default=0)
        delivered = self.value(last, "fido_webhook_recent_pushes", state="delivered") or 0
        self.report.check(
            "no failed event; every push delivered in the end (fido_webhook_recent_pushes)",
            failed == 0 and delivered >= 1 and self.value(last, "fido_webhook_pushes", state="pending") == 0,
            f"failed {failed:g}, delivered {delivered:g}",
        )
