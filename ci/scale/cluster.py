"""A PostgreSQL primary, a hot standby streaming from it, and PgBouncer in front of the primary: all of
the stage's own, in a temporary directory owned by the `postgres` user, on free ports of 127.0.0.1, each
stopped by its process id. The machine's shared PostgreSQL (5432) is never touched.

The primary runs as docs/performance.md ("Scaling") prescribes: `synchronous_commit = remote_apply`
with the standby named in `synchronous_standby_names`, so a commit is acknowledged only once the standby
has applied it, and the standby with `hot_standby_feedback` and a short `max_standby_streaming_delay`.
"""

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "production"))

from services import Process, StageError, free_port, wait_until

PG_BIN = Path(
    subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()  # noqa: S607
    or "/usr/lib/postgresql/15/bin"
)
AS_POSTGRES = ["runuser", "-u", "postgres", "--"]
STANDBY_NAME = "replica1"


def owned_by_postgres(path: Path) -> Path:
    account = pwd.getpwnam("postgres")
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, account.pw_uid, account.pw_gid)
    return path


def run_as_postgres(argv: list[str], what: str) -> None:
    result = subprocess.run([*AS_POSTGRES, *argv], capture_output=True, text=True, timeout=180)  # noqa: S603
    if result.returncode != 0:
        raise StageError(f"{what} failed: {(result.stdout + result.stderr)[-2000:]}")


class PostgresNode:
    """One PostgreSQL server of the stage: `postgres -D dir` as the postgres user, in a session of its own.
    Its settings go into its postgresql.conf (so ALTER SYSTEM can still change them at run time)."""

    def __init__(self, name: str, data_dir: Path, log_dir: Path, settings: dict[str, str]):
        self.name, self.data_dir, self.log_dir = name, data_dir, log_dir
        self.port = free_port()
        self.settings = settings
        self.process: Process | None = None
        self.configured = False

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        if not self.configured:
            lines = [f"{name} = '{value}'" for name, value in self.settings.items()]
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write(f"\n# {self.name} (ci/scale/cluster.py)\n" + "\n".join(lines) + "\n")
            self.configured = True
        argv = [str(PG_BIN / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        argv += ["-c", f"unix_socket_directories={self.log_dir}", "-c", "listen_addresses=127.0.0.1"]
        self.process = Process(self.name, [*AS_POSTGRES, *argv], env=dict(os.environ), log_dir=self.log_dir)
        wait_until(self.answers, seconds=60, what=f"PostgreSQL {self.name} to accept connections")

    def answers(self) -> bool:
        if self.process and not self.process.alive():
            raise StageError(f"PostgreSQL {self.name} exited:\n{self.process.log_tail()}")
        try:
            with psycopg.connect(self.url(), connect_timeout=2, autocommit=True) as connection:
                connection.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def postmaster_pid(self) -> int | None:
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        return None

    def stop(self) -> None:
        """A fast shutdown (SIGINT to the postmaster, by its pid): sessions are ended, nothing is lost."""
        pid = self.postmaster_pid()
        if pid is None or self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.alive():
            time.sleep(0.1)
        if self.process.alive():
            self.process.kill_group(signal.SIGKILL)
        self.process.popen.wait()

    def sql(self, statement: str, params: tuple = (), database: str = "postgres") -> list[tuple]:
        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=5) as connection:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []


class ReplicaPair:
    """`initdb` a primary, `pg_basebackup` a hot standby from it, both started and streaming synchronously."""

    def __init__(self, work_dir: Path):
        self.work_dir = owned_by_postgres(work_dir)
        common = {
            "shared_preload_libraries": "pg_stat_statements",
            "pg_stat_statements.track": "top",
            "max_connections": "200",
            "shared_buffers": "64MB",
        }
        self.primary = PostgresNode(
            "primary",
            work_dir / "primary",
            work_dir,
            {
                **common,
                "wal_level": "replica",
                "max_wal_senders": "4",
                "wal_keep_size": "256MB",  # a stopped standby catches up from here when it returns
                "synchronous_commit": "remote_apply",
                "synchronous_standby_names": STANDBY_NAME,
            },
        )
        self.standby = PostgresNode(
            "standby",
            work_dir / "standby",
            work_dir,
            {
                **common,
                "cluster_name": STANDBY_NAME,  # the walreceiver's application_name, as named on the primary
                "hot_standby": "on",
                "hot_standby_feedback": "on",
                "max_standby_streaming_delay": "2s",
            },
        )

    def start(self) -> None:
        started = time.monotonic()
        run_as_postgres(
            [str(PG_BIN / "initdb"), "-D", str(self.primary.data_dir), "-U", "postgres", "--auth=trust", "--no-sync"],
            "initdb",
        )
        self.primary.start()
        run_as_postgres(
            [
                *(str(PG_BIN / "pg_basebackup"), "-D", str(self.standby.data_dir), "-h", "127.0.0.1"),
                *("-p", str(self.primary.port), "-U", "postgres", "-X", "stream", "-R", "-c", "fast", "--no-sync"),
            ],
            "pg_basebackup",
        )
        self.standby.start()
        wait_until(self.standby_is_synchronous, seconds=60, what="the standby to stream as the synchronous standby")
        # Created once the standby streams: every commit from here on waits for it.
        self.primary.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        print(f"  primary :{self.primary.port} and standby :{self.standby.port} in {time.monotonic() - started:.0f} s")

    def standby_is_synchronous(self) -> bool:
        rows = self.primary.sql(
            "SELECT state, sync_state FROM pg_stat_replication WHERE application_name = %s", (STANDBY_NAME,)
        )
        return rows == [("streaming", "sync")]

    def stop(self) -> None:
        # The standby first: a primary stopping with a standby attached waits for it to receive the last WAL.
        self.standby.stop()
        self.primary.stop()

    def remove(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)


class PgBouncer:
    """Debian's pgbouncer in transaction mode in front of the primary, on a free port, as the postgres user
    (it refuses to run as root). Any database name is forwarded to the primary (the `*` entry)."""

    def __init__(self, primary: PostgresNode, work_dir: Path, pool_size: int = 10):
        self.primary, self.work_dir, self.pool_size = primary, owned_by_postgres(work_dir), pool_size
        self.port = free_port()
        self.ini = work_dir / "pgbouncer.ini"
        self.process: Process | None = None

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        program = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        self.ini.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.primary.port} user=postgres\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            "auth_type = any\nadmin_users = postgres\nstats_users = postgres\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\nmax_client_conn = 1000\n"
            # A client waits at most this long for a server connection: a stuck pool is an error, not a hang.
            "query_wait_timeout = 10\n"
            f"pidfile = {self.work_dir / 'pgbouncer.pid'}\n"  # its log goes to stderr, into pgbouncer.log
        )
        os.chown(self.ini, pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid)
        self.process = Process("pgbouncer", [*AS_POSTGRES, program, str(self.ini)], env=dict(os.environ),
                               log_dir=self.work_dir)  # fmt: skip
        wait_until(self.answers, seconds=30, what="PgBouncer to accept connections")

    def answers(self) -> bool:
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2, autocommit=True) as connection:
                connection.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def show(self, what: str) -> list[dict]:
        """The admin console's SHOW <what> (POOLS, STATS, CLIENTS, SERVERS), rows as dicts."""
        with psycopg.connect(self.url("pgbouncer"), autocommit=True, connect_timeout=5) as connection:
            cursor = connection.cursor()
            cursor.execute(f"SHOW {what}".encode())
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def stop(self) -> None:
        pid_file = self.work_dir / "pgbouncer.pid"
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
        if self.process:
            self.process.stop()
