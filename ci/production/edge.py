"""The edge check of the production stage: deploy/nginx/fido.conf, run by Debian's nginx in front of the
shipped gunicorn (docker-compose.yml's command line, deploy/gunicorn.conf.py), judged from outside.

nginx gets a configuration of its own around that same file (pid, temp paths and logs in a temp dir, free
ports on 127.0.0.1, plain HTTP and TLS with a throw-away certificate) and connects to gunicorn from
127.0.0.2, the one address in gunicorn's FORWARDED_ALLOW_IPS; clients connect from 127.0.0.1 (or 127.0.0.3
to be someone else), so a request sent straight to gunicorn comes from a peer that is not the proxy. The
service runs with production settings and HTTPS_ONLY=1, on a fresh database of the shared PostgreSQL.

Checks: slow-header clients (more than gunicorn has threads) hold no worker: /healthz answers through the
proxy while they are all still sending (the figure with and without the proxy is printed); a header flood,
an oversized header, a huge URL and an oversized body get JSON errors under /api/ (and the largest request
nginx lets through reaches the service, never a gunicorn HTML refusal); X-Forwarded-Proto counts only from
the proxy (a plain-HTTP request through it is redirected whatever it claims, one over TLS is not, and a
forged header sent straight to gunicorn is ignored); the admin login's lockout counts the address the
proxy saw, not one the client forged; with gunicorn gone, a JSON 502.

Run by run.py (`make production-check`); alone: `python ci/production/edge.py --venv .venv`.
"""

import argparse
import datetime as dt
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from services import BASE_DIR, Database, Deployment, Process, StageError, free_port, wait_until

PROXY_ADDRESS = "127.0.0.2"  # nginx connects to gunicorn from here (proxy_bind): FORWARDED_ALLOW_IPS
OTHER_CLIENT = "127.0.0.3"  # a second client, as nginx sees it
SLOW_CLIENTS = 16  # more than gunicorn's threads here (2 workers x 4 threads)
SLOW_SECONDS = 6.0  # how long each slow client trickles its headers before finishing them
EDGE_CONF = BASE_DIR / "deploy" / "nginx" / "fido.conf"
STAFF, STAFF_PASSWORD = "edge-staff", secrets.token_urlsafe(16)


@dataclass
class Answer:
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str = ""

    def json(self) -> dict | None:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def is_json_error(self, status: int, code: str) -> bool:
        body = self.json()
        return (
            self.status == status
            and self.headers.get("content-type", "").startswith("application/json")
            and isinstance(body, dict)
            and body.get("type") in {"client_error", "server_error"}
            and [(e.get("code"), e.get("attr", "missing")) for e in body.get("errors", [])] == [(code, None)]
        )

    def describe(self) -> str:
        return self.error or f"{self.status} {self.headers.get('content-type', '')} {self.body[:160]!r}"


def _decode_chunked(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2 :]
    return out


class Client:
    """Raw HTTP/1.1 over a socket of its own (TLS when `tls`), from a chosen loopback address."""

    def __init__(self, port: int, *, tls: ssl.SSLContext | None = None, source: str = "127.0.0.1"):
        self.port, self.tls, self.source = port, tls, source

    def connect(self, timeout: float = 15) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout, source_address=(self.source, 0))
        return self.tls.wrap_socket(sock, server_hostname="localhost") if self.tls else sock

    def send(self, raw: bytes, timeout: float = 15) -> Answer:
        data = b""
        try:
            with self.connect(timeout) as sock:
                sock.sendall(raw)
                while chunk := sock.recv(65536):
                    data += chunk
        except OSError as exc:  # a reset after the answer (nginx refusing a body unread) keeps the answer
            if not data:
                return Answer(None, error=f"{type(exc).__name__}: {exc}")
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ")[1])
        except (IndexError, ValueError):
            return Answer(None, error=f"not HTTP: {data[:100]!r}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = (headers.get(name.strip().lower(), "") + "\n" + value.strip()).strip()
        if headers.get("transfer-encoding") == "chunked":
            body = _decode_chunked(body)
        return Answer(status, headers, body)

    def request(self, method: str, path: str, headers: dict | None = None, body: bytes = b"") -> Answer:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        return self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def self_signed_certificate(directory: Path) -> Path:
    """A throw-away certificate for localhost and 127.0.0.1 (and its key); returns the certificate's path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path


class Nginx:
    """Debian's nginx with a configuration of its own around deploy/nginx/fido.conf; stopped by its id."""

    def __init__(self, work_dir: Path, upstream_port: int):
        self.dir = work_dir / "nginx"
        self.dir.mkdir()
        # The workers run as an unprivileged user when the master is root: they must reach the temp dirs.
        for directory in (work_dir, self.dir):
            directory.chmod(0o755)
        self.http_port, self.tls_port, self.upstream_port = free_port(), free_port(), upstream_port
        self.certificate = self_signed_certificate(self.dir)
        self.program = shutil.which("nginx") or "/usr/sbin/nginx"
        self.config = self.dir / "nginx.conf"
        self.config.write_text(self._config())
        self.process: Process | None = None

    def _config(self) -> str:
        temp = "\n".join(
            f"    {kind}_temp_path {self.dir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return f"""# Written by ci/production/edge.py: everything of this nginx lives in {self.dir}.
worker_processes 1;
pid {self.dir / "nginx.pid"};
error_log {self.dir / "error.log"} info;
events {{ worker_connections 512; }}
http {{
{temp}
    access_log {self.dir / "access.log"};
    # gunicorn believes X-Forwarded-* from this address only (its FORWARDED_ALLOW_IPS).
    proxy_bind {PROXY_ADDRESS};
    upstream fido_web {{ server 127.0.0.1:{self.upstream_port}; }}
    server {{
        listen 127.0.0.1:{self.http_port};
        listen 127.0.0.1:{self.tls_port} ssl;
        ssl_certificate {self.certificate};
        ssl_certificate_key {self.dir / "privkey.pem"};
        include {EDGE_CONF};
    }}
}}
"""

    def argv(self, *extra: str) -> list[str]:
        return [self.program, "-p", str(self.dir), "-c", str(self.config), "-e", str(self.dir / "error.log"), *extra]

    def test(self) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv("-t"), capture_output=True, text=True, timeout=30)  # noqa: S603

    def start(self) -> None:
        self.process = Process("nginx", self.argv("-g", "daemon off;"), env=dict(os.environ), log_dir=self.dir)

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certificate))

    def log_tail(self) -> str:
        path = self.dir / "error.log"
        lines = path.read_text(errors="replace").splitlines()[-15:] if path.exists() else []
        return "\n".join(f"    nginx| {line[:300]}" for line in lines)


class SlowClients:
    """Connections that send a request line, then one header line every half second for `seconds`."""

    def __init__(self, port: int, count: int, seconds: float):
        self.port, self.count, self.seconds = port, count, seconds
        self.state = ["connecting"] * count
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(count)]

    def _run(self, n: int) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
                sock.sendall(b"GET /api/v1/transactions/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                self.state[n] = "sending"
                end = time.monotonic() + self.seconds
                while time.monotonic() < end and not self.stop.is_set():
                    sock.sendall(b"X-Slowly: yes\r\n")
                    time.sleep(0.5)
                sock.sendall(b"Connection: close\r\n\r\n")
                self.state[n] = "sent"
                sock.recv(100)
        except OSError:
            pass
        self.state[n] = "done"

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        wait_until(lambda: all(state == "sending" for state in self.state), seconds=10, what="the slow clients")
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def all_still_sending(self) -> bool:
        return all(state == "sending" for state in self.state)


def direct_metrics_ok(client) -> bool:
    """gunicorn itself still serves /metrics (open: the stage sets no METRICS_TOKEN)."""
    return client.request("GET", "/metrics").status == 200


def healthz_while_slow_clients(port: int, *, target_port: int, probes: int = 4) -> tuple[list[Answer], float, bool]:
    """`probes` concurrent /healthz requests on `port` while SLOW_CLIENTS trickle headers to `target_port`:
    (answers, the slowest one's seconds, whether the slow clients were all still sending when it came).

    Several probes, because gunicorn's workers each accept what they can: one may hold every slow client
    while another stays free, and a single probe could land there by chance."""
    answers: list[Answer] = []
    seconds: list[float] = []

    def probe() -> None:
        started = time.monotonic()
        answers.append(Client(port).request("GET", "/healthz"))
        seconds.append(time.monotonic() - started)

    with SlowClients(target_port, SLOW_CLIENTS, SLOW_SECONDS) as slow:
        time.sleep(1)
        threads = [threading.Thread(target=probe) for _ in range(probes)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        return answers, max(seconds, default=float("nan")), slow.all_still_sending()


class AdminLogin:
    """The admin login page, driven as a browser would (CSRF cookie and token, Referer), over TLS."""

    def __init__(self, client: Client):
        self.client = client

    def attempt(self, username: str, password: str, forged_for: str | None = None) -> Answer:
        page = self.client.request("GET", "/admin/login/")
        cookie = re.search(r"csrftoken=([^;]+)", page.headers.get("set-cookie", ""))
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
        if not (cookie and token):
            return Answer(None, error=f"no CSRF cookie or token on the login page: {page.describe()}")
        body = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token.group(1).decode(), "username": username, "password": password}
        ).encode()
        headers = {
            "Cookie": f"csrftoken={cookie.group(1)}",
            "Referer": f"https://127.0.0.1:{self.client.port}/admin/login/",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        if forged_for:
            headers["X-Forwarded-For"] = forged_for
        return self.client.request("POST", "/admin/login/", headers, body)


def page_without_tokens(answer: Answer) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", answer.body)


class EdgeRun:
    def __init__(self, venv: Path, work_dir: Path, report):
        self.venv, self.work, self.report = venv, work_dir, report
        self.database = Database(f"fido_stage_edge_{os.getpid()}_{int(time.time())}")
        self.web_port = free_port()
        self.deployment: Deployment | None = None
        self.nginx: Nginx | None = None

    def environment(self) -> dict:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CELERY_"))}
        for name in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_REPLICA_URLS"):
            env.pop(name, None)  # in-process cache and tasks: the edge is what is judged here
        env.update(
            ENV_FILE="",
            DEBUG="0",
            HTTPS_ONLY="1",
            SECRET_KEY=secrets.token_urlsafe(50),
            FIELD_HASH_KEY=secrets.token_urlsafe(32),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            DATABASE_URL=self.database.url,
            FORWARDED_ALLOW_IPS=PROXY_ADDRESS,
            PORT=str(self.web_port),
            GUNICORN_WORKERS="2",
            GUNICORN_THREADS="4",
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self) -> None:
        self.database.create()
        env = self.environment()
        self.deployment = Deployment(self.venv, env, self.work, self.work / "celerybeat-schedule")
        key = self.deployment.manage("generate_encryption_key", DEBUG="1", FIELD_ENCRYPTION_KEYS="")
        if key.returncode != 0:
            raise StageError(f"generate_encryption_key failed: {key.stderr[-2000:]}")
        env["FIELD_ENCRYPTION_KEYS"] = key.stdout.strip().splitlines()[-1]
        # As the image's build does: the admin's static files, hashed, with their manifest (DEBUG is off).
        static = self.deployment.manage("collectstatic", "--noinput")
        if static.returncode != 0:
            raise StageError(f"collectstatic failed: {static.stderr[-2000:]}")
        migrate = self.deployment.run("migrate")
        if migrate.returncode != 0:
            raise StageError(f"migrate failed: {migrate.stderr[-2000:]}")
        client = self.deployment.manage("create_api_client", "edge", "--scope", "write")
        if client.returncode != 0:
            raise StageError(f"create_api_client failed: {client.stderr[-2000:]}")
        self.token = client.stdout.strip().splitlines()[-1]
        staff = self.deployment.manage(
            "createsuperuser",
            "--noinput",
            "--username",
            STAFF,
            "--email",
            "edge@example.com",
            DJANGO_SUPERUSER_PASSWORD=STAFF_PASSWORD,
        )
        if staff.returncode != 0:
            raise StageError(f"createsuperuser failed: {staff.stderr[-2000:]}")
        self.web = self.deployment.start("web")
        self.direct = Client(self.web_port)
        wait_until(lambda: self.direct.request("GET", "/healthz").status == 200, seconds=60, what="gunicorn")

        self.nginx = Nginx(self.work, self.web_port)
        tested = self.nginx.test()
        if not self.report.check("nginx -t accepts deploy/nginx/fido.conf", tested.returncode == 0, tested.stderr):
            raise StageError("nginx refused the configuration")
        self.nginx.start()
        self.plain = Client(self.nginx.http_port)
        self.tls = Client(self.nginx.tls_port, tls=self.nginx.tls_context())
        wait_until(lambda: self.plain.request("GET", "/healthz").status == 200, seconds=20, what="nginx")

    def stop(self) -> None:
        if self.nginx:
            self.nginx.stop()
        if self.deployment:
            self.deployment.stop_all()
        self.database.drop()

    def logs(self) -> str:
        tails = [process.log_tail() for process in self.deployment.processes] if self.deployment else []
        return "\n".join(tails + ([self.nginx.log_tail()] if self.nginx else []))

    # --- the checks -------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: bytes = b"", **headers: str) -> Answer:
        headers = {"Authorization": f"Token {self.token}", "Accept": "application/json", **headers}
        if body:
            headers.setdefault("Content-Type", "application/json")
        return self.tls.request(method, path, headers, body)

    def probes_pass_through(self) -> None:
        ready = self.plain.request("GET", "/readyz")
        self.report.check(
            "/healthz and /readyz answer through the proxy (plain HTTP, no redirect)",
            self.plain.request("GET", "/healthz").status == 200
            and ready.status == 200
            and (ready.json() or {}).get("database", {}).get("status") == "ok",
            ready.describe(),
        )
        listed = self.api("GET", "/api/v1/transactions/")
        self.report.check("an API read over TLS through the proxy: 200", listed.status == 200, listed.describe())
        scraped = self.tls.request("GET", "/metrics")
        self.report.check(
            "/metrics is not published through the proxy (Prometheus scrapes gunicorn inside): 404",
            scraped.status == 404 and direct_metrics_ok(self.direct),
            scraped.describe(),
        )

    def slow_clients(self) -> None:
        proxied, proxied_seconds, still_sending = healthz_while_slow_clients(
            self.nginx.http_port, target_port=self.nginx.http_port
        )
        self.report.check(
            f"{SLOW_CLIENTS} slow-header clients through the proxy: /healthz answers while they are all still sending",
            [answer.status for answer in proxied] == [200] * len(proxied) and still_sending,
            f"slowest of {len(proxied)} probes {proxied_seconds * 1000:.0f} ms",
        )
        direct, direct_seconds, _ = healthz_while_slow_clients(self.web_port, target_port=self.web_port)
        label = f"slowest of 4 concurrent /healthz with {SLOW_CLIENTS} slow-header clients ({SLOW_SECONDS:g} s each)"
        self.report.figure(f"{label}, through the proxy", f"{proxied_seconds * 1000:.1f} ms")
        self.report.figure(
            f"{label}, straight to gunicorn",
            f"{direct_seconds * 1000:.1f} ms (statuses {sorted(answer.status for answer in direct)})",
        )

    def oversized_requests(self) -> None:
        flood = "".join(f"X-Flood-{n}: {'v' * 20}\r\n" for n in range(2000)).encode()
        many = self.plain.send(b"GET /api/v1/transactions/ HTTP/1.1\r\nHost: 127.0.0.1\r\n" + flood + b"\r\n")
        self.report.check(
            "a header flood under /api/: JSON 431", many.is_json_error(431, "request_header_too_large"), many.describe()
        )
        big = self.plain.request("GET", "/api/v1/transactions/", {"X-Big": "v" * 9000})
        self.report.check(
            "one 9 KiB header under /api/: JSON 431", big.is_json_error(431, "request_header_too_large"), big.describe()
        )
        url = self.plain.request("GET", "/api/v1/transactions/?q=" + "a" * 9000)
        self.report.check("a 9 KiB URL: JSON 414", url.is_json_error(414, "uri_too_long"), url.describe())
        twice = self.plain.send(b"GET /api/v1/transactions/ HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: other\r\n\r\n")
        self.report.check(
            "a malformed request under /api/: JSON 400", twice.is_json_error(400, "parse_error"), twice.describe()
        )

        # The largest request nginx lets through reaches the service (JSON), never a gunicorn HTML refusal.
        start = "GET /api/v1/transactions/?transaction_type="
        longest = start + "a" * (8190 - len(start) - len(" HTTP/1.1"))
        head = f"{longest} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {self.token}\r\nX-Long: {'v' * 8180}\r\n"
        at_limit = self.tls.send(head.encode() + b"a:b\r\n" * 900 + b"Connection: close\r\n\r\n")
        self.report.check(
            "the longest URL and header line nginx takes, with 900 more headers, reach the service: its JSON 400",
            at_limit.status == 400 and (at_limit.json() or {}).get("errors", [{}])[0].get("attr") == "transaction_type",
            at_limit.describe(),
        )

        at_most = self.api("POST", "/api/v1/transactions/", b"x" * (1024 * 1024))
        self.report.check(
            "a body of exactly 1 MiB reaches the service (its JSON 400: not JSON)",
            at_most.status == 400 and "x-request-id" in at_most.headers and (at_most.json() or {}).get("errors"),
            at_most.describe(),
        )
        just_over = self.api("POST", "/api/v1/transactions/", b"x" * (1024 * 1024 + 1))
        self.report.check(
            "a body of 1 MiB + 1 byte is refused by the proxy, unread: the service's JSON 413",
            just_over.is_json_error(413, "request_too_large") and "x-request-id" not in just_over.headers,
            just_over.describe(),
        )
        admin = self.plain.request("GET", "/admin/", {"X-Big": "v" * 9000})
        self.report.check(
            "outside /api/ (the admin) nginx's errors are not JSON",
            admin.status == 431 and admin.headers.get("content-type") == "text/html" and b"<h1>431" in admin.body,
            admin.describe(),
        )

    def forwarded_proto(self) -> None:
        path = "/api/v1/transactions/"
        forged = self.plain.request("GET", path, {"X-Forwarded-Proto": "https", "Authorization": f"Token {self.token}"})
        self.report.check(
            "HTTPS_ONLY: plain HTTP through the proxy claiming https is redirected to https",
            forged.status == 301 and forged.headers.get("location", "").startswith("https://"),
            forged.describe(),
        )
        over_tls = self.api("GET", path, **{"X-Forwarded-Proto": "http"})
        self.report.check(
            "over TLS through the proxy (whatever the client claims): 200", over_tls.status == 200, over_tls.describe()
        )
        claim = {"X-Forwarded-Proto": "https", "Authorization": f"Token {self.token}"}
        direct = self.direct.request("GET", path, claim)
        self.report.check(
            "straight to gunicorn from a peer that is not the proxy, X-Forwarded-Proto: https is ignored (redirected)",
            direct.status == 301,
            direct.describe(),
        )
        # The control: the same forged header from the proxy's own address is believed, so the check above can fail.
        control = Client(self.web_port, source=PROXY_ADDRESS).request(
            "GET", path, {"X-Forwarded-Proto": "https", "Authorization": f"Token {self.token}"}
        )
        self.report.check(
            "(control: from the proxy's address gunicorn believes it: 200)", control.status == 200, control.describe()
        )

    def admin_lockout(self) -> None:
        here = AdminLogin(self.tls)
        answers = [here.attempt(STAFF, "wrong-password", forged_for=f"198.51.100.{n}") for n in range(5)]
        self.report.check(
            "admin login: 4 failures show the login page, the 5th locks out (429), forged X-Forwarded-For ignored",
            [a.status for a in answers] == [200, 200, 200, 200, 429],
            str([a.status for a in answers]),
        )
        right = here.attempt(STAFF, STAFF_PASSWORD, forged_for="198.51.100.77")
        wrong = here.attempt(STAFF, "another-wrong-password")
        self.report.check(
            "locked out, the right password gets the same 429 page as a wrong one, and no session",
            right.status == wrong.status == 429
            and page_without_tokens(right) == page_without_tokens(wrong)
            and "sessionid" not in right.headers.get("set-cookie", ""),
            f"{right.status}/{wrong.status}",
        )
        elsewhere = AdminLogin(Client(self.nginx.tls_port, tls=self.nginx.tls_context(), source=OTHER_CLIENT))
        other = elsewhere.attempt(STAFF, STAFF_PASSWORD)
        self.report.check(
            "the same username from another client address (as the proxy saw it) logs in",
            other.status == 302 and "sessionid" in other.headers.get("set-cookie", ""),
            other.describe(),
        )

    def upstream_gone(self) -> None:
        self.web.stop()
        api = self.plain.request("GET", "/api/v1/transactions/")
        admin = self.plain.request("GET", "/admin/")
        self.report.check(
            "gunicorn gone: JSON 502 under /api/, nginx's page elsewhere",
            api.is_json_error(502, "bad_gateway") and admin.status == 502 and admin.body[:1] != b"{",
            f"{api.describe()} / {admin.describe()}",
        )


def run_edge(venv: Path, report, keep: bool = False) -> None:
    """The edge check, as one part of the production stage (run.py)."""
    print("== production stage: the edge (deploy/nginx/fido.conf with Debian's nginx, gunicorn behind)", flush=True)
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        report.check("nginx is installed (apt-get install nginx; .ci/run does)", False)
        return
    work = Path(tempfile.mkdtemp(prefix="fido-stage-edge-"))
    run = EdgeRun(venv, work, report)
    failed_before = report.failed
    try:
        run.start()
        run.probes_pass_through()
        run.slow_clients()
        run.oversized_requests()
        run.forwarded_proto()
        run.admin_lockout()
        run.upstream_gone()
    except StageError as exc:
        report.check("edge run completes", False, str(exc))
    finally:
        if report.failed > failed_before:
            print(f"  logs of the edge run (tails):\n{run.logs()}", flush=True)
        run.stop()
        if keep:
            print(f"  logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    from run import Report

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, required=True, help="a venv with requirements.txt installed")
    parser.add_argument("--keep", action="store_true", help="keep the logs (printed where)")
    args = parser.parse_args()
    report = Report()
    run_edge(args.venv.resolve(), report, args.keep)
    for name, value in report.figures:
        print(f"  {name}: {value}")
    print(f"edge check: {report.passed} passed, {report.failed} failed", flush=True)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
