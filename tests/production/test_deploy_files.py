"""Dockerfile and docker-compose.yml, read without a Docker engine: every command they run exists in
the project, ports and variables agree with the configuration, the image runs as non-root, and compose has the
services, health checks, start-up order, env file and named volumes of a production deployment."""

import importlib
import ipaddress
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.core.management import get_commands

BASE_DIR = Path(__file__).resolve().parents[2]
PORT = 8000
# The variables every deployment sets or decides on.
SPEC_VARIABLES = {
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "FIELD_ENCRYPTION_KEYS",
    "FIELD_HASH_KEY",
    "LARGE_TRANSACTION_THRESHOLD",
    "ANALYTICS_CACHE_TTL",
    "OVERVIEW_MAX_AGE",
    "ALERT_WEBHOOK_URL",
    "ALERT_WEBHOOK_SECRET",
    "HTTPS_ONLY",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "TIME_ZONE",
}
# Read by the images themselves, not by our code.
IMAGE_VARIABLES = {
    "POSTGRES_DB",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "RABBITMQ_DEFAULT_USER",
    "RABBITMQ_DEFAULT_PASS",
    "RABBITMQ_DEFAULT_VHOST",
}
CELERY_SUBCOMMANDS = {"worker", "beat", "inspect"}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    text = (BASE_DIR / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip()]


def runtime_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def exec_form(arguments: str) -> list[str]:
    return json.loads(arguments) if arguments.lstrip().startswith("[") else shlex.split(arguments)


def compose() -> dict:
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (BASE_DIR / "deploy" / "env.example").read_text().splitlines():
        line = line.strip().lstrip("# ").strip()
        if re.match(r"^[A-Z][A-Z0-9_]*=", line):
            name, _, value = line.partition("=")
            pairs.setdefault(name, value)
    return pairs


def assert_command_exists(argv: list[str]) -> None:
    """A command of ours: manage.py subcommands, gunicorn apps, Celery apps, python -c snippets."""
    program = Path(argv[0]).name
    if program == "python" and argv[1:2] == ["manage.py"]:
        assert argv[2] in get_commands(), f"manage.py has no command {argv[2]!r}"
    elif program == "python" and argv[1:2] == ["-c"]:
        compile(argv[2], "<healthcheck>", "exec")
        for module in re.findall(r"from ([\w.]+) import|import ([\w.]+)", argv[2]):
            importlib.import_module(module[0] or module[1])
    elif program == "gunicorn":
        config = argv[argv.index("--config") + 1]
        assert (BASE_DIR / config).is_file()
        module, _, attr = argv[-1].partition(":")
        assert callable(getattr(importlib.import_module(module), attr))
    elif program == "celery":
        app_module = argv[argv.index("-A") + 1]
        assert importlib.import_module(app_module).celery_app.main == "fido"
        assert set(argv) & CELERY_SUBCOMMANDS
    else:
        pytest.fail(f"unknown command {argv}")


def test_dockerfile_is_multi_stage_on_slim_python_311():
    bases = [args.split()[0] for name, args in dockerfile_instructions() if name == "FROM"]

    assert len(bases) >= 2
    assert all(base.startswith("python:3.11-slim") for base in bases)
    copies = [args for name, args in runtime_stage() if name == "COPY"]
    assert any(args.startswith("--from=build") for args in copies)


def test_image_runs_as_a_non_root_user():
    users = [args.strip() for name, args in runtime_stage() if name == "USER"]

    assert users, "the runtime stage must switch user"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert not any(name == "USER" for name, _ in runtime_stage()[runtime_stage().index(("USER", users[-1])) + 1 :])


def test_image_installs_requirements_and_collects_static_files():
    runs = " ".join(args for name, args in dockerfile_instructions() if name == "RUN")

    assert "-r requirements.txt" in runs
    assert "manage.py collectstatic --noinput" in runs


def test_the_build_step_that_collects_static_files_passes_start_up_validation():
    """It runs with throw-away secrets: they must still be valid ones (a Fernet key), or the build fails."""
    step = next(args for name, args in runtime_stage() if name == "RUN" and "collectstatic" in args)
    command = step.split("&&")[0].replace("collectstatic --noinput", "check")
    # The image has no .env (.dockerignore) and its `python` is the one with the requirements.
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "ENV_FILE": ""}

    result = subprocess.run(["sh", "-c", command], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)  # noqa: S603, S607

    assert result.returncode == 0, result.stderr[-2000:]


def test_dockerfile_commands_exist_and_health_check_calls_healthz_on_the_exposed_port():
    stage = dict((name, args) for name, args in runtime_stage() if name in {"CMD", "EXPOSE", "HEALTHCHECK"})

    assert stage["EXPOSE"].split() == [str(PORT)]
    assert_command_exists(exec_form(stage["CMD"]))
    health_cmd = exec_form(stage["HEALTHCHECK"].split("CMD", 1)[1])
    assert f"http://127.0.0.1:{PORT}/healthz" in health_cmd[-1]
    assert_command_exists(health_cmd)


def test_gunicorn_binds_the_exposed_port():
    config: dict = {}
    exec((BASE_DIR / "deploy" / "gunicorn.conf.py").read_text(), config)  # noqa: S102 - our own config file

    assert config["bind"] == f"0.0.0.0:{PORT}"
    assert config["accesslog"] is None


def test_compose_has_the_services_of_a_deployment():
    services = compose()["services"]

    assert set(services) == {"db", "cache", "broker", "migrate", "web", "worker", "beat", "proxy"}
    assert services["db"]["image"].startswith("postgres:16")
    assert services["cache"]["image"].startswith("redis:7")
    assert services["broker"]["image"].startswith("rabbitmq:")


def redis_options(command: list[str]) -> dict[str, str]:
    assert command[0] == "redis-server"
    return {command[i][2:]: command[i + 1] for i in range(1, len(command) - 1, 2)}


def test_the_cache_is_bounded_evicts_and_persists_nothing():
    """A full cache must evict, never refuse writes; and a cache needs no disk."""
    cache = compose()["services"]["cache"]
    options = redis_options(cache["command"])

    assert re.fullmatch(r"\d+(mb|gb)", options["maxmemory"])
    assert options["maxmemory-policy"].startswith("allkeys-")
    assert options["save"] == ""
    assert options["appendonly"] == "no"
    assert "volumes" not in cache


def test_the_broker_is_rabbitmq_with_its_queues_on_a_volume_and_a_fixed_node_name():
    """Cache and broker are separate services: a cache flood can never stop the background work."""
    spec = compose()
    broker = spec["services"]["broker"]

    assert broker["hostname"] == "broker"  # RabbitMQ's data directory is named after its node name
    assert [mount.split(":") for mount in broker["volumes"]] == [["brokerdata", "/var/lib/rabbitmq"]]
    assert broker["env_file"] == ".env.production"
    assert "rabbitmq-diagnostics" in broker["healthcheck"]["test"]


def test_every_compose_command_exists_in_the_project():
    services = compose()["services"]

    for name in ("migrate", "web", "worker", "beat"):
        assert_command_exists(services[name]["command"])
    assert services["migrate"]["command"][:3] == ["python", "manage.py", "migrate"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "fido", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "fido", "beat"]


def test_compose_health_checks_and_start_up_order():
    services = compose()["services"]

    for name in ("db", "cache", "broker", "web", "worker", "beat"):
        assert services[name]["healthcheck"]["test"], name
    assert f"127.0.0.1:{PORT}/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert_command_exists(services["web"]["healthcheck"]["test"][1:])
    assert_command_exists(shlex.split(services["worker"]["healthcheck"]["test"][1]))
    assert_command_exists(services["beat"]["healthcheck"]["test"][1:])
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["cache"]["condition"] == "service_healthy"
        assert depends["broker"]["condition"] == "service_healthy"
    assert services["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(services["proxy"]["healthcheck"]["test"])


def test_compose_reads_its_configuration_from_the_env_file_and_keeps_data_in_named_volumes():
    spec = compose()

    for name in ("db", "broker", "migrate", "web", "worker", "beat"):
        assert spec["services"][name]["env_file"] == ".env.production"
    # One exception, tied to the compose file's own network: the proxy's address (test below).
    assert set(spec["services"]["web"]["environment"]) == {"FORWARDED_ALLOW_IPS"}
    for name in ("db", "broker", "migrate", "worker", "beat", "proxy"):
        assert "environment" not in spec["services"][name]
    named = set(spec["volumes"])
    for name in ("db", "broker", "beat"):
        for mount in spec["services"][name]["volumes"]:
            assert mount.split(":")[0] in named


def test_env_example_covers_spec_variables_and_holds_no_secret():
    example = env_example()

    assert set(example) >= SPEC_VARIABLES
    assert example["DEBUG"] == "0"
    for name in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "FIELD_HASH_KEY", "POSTGRES_PASSWORD", "RABBITMQ_DEFAULT_PASS"):
        assert example[name] == "CHANGE_ME"


def test_every_variable_of_the_env_example_is_read_by_the_project():
    sources = (BASE_DIR / "fido" / "settings.py").read_text() + (BASE_DIR / "deploy" / "gunicorn.conf.py").read_text()

    unread = {name for name in env_example() if name not in IMAGE_VARIABLES and f'"{name}"' not in sources}

    assert unread == set()


def test_service_urls_point_at_compose_services():
    example, services = env_example(), compose()["services"]

    assert re.match(r"^postgres://[^@]+@db:5432/", example["DATABASE_URL"])
    assert example["DATABASE_URL"].rsplit("/", 1)[1] == example["POSTGRES_DB"]
    assert example["REDIS_URL"].startswith("redis://cache:6379/")
    broker = urlsplit(example["CELERY_BROKER_URL"])
    assert (broker.scheme, broker.hostname, broker.port) == ("amqp", "broker", 5672)
    assert broker.username == example["RABBITMQ_DEFAULT_USER"]
    assert broker.password == example["RABBITMQ_DEFAULT_PASS"]
    assert broker.path == "/" + example["RABBITMQ_DEFAULT_VHOST"]
    assert {"db", "cache", "broker"} <= set(services)


def test_dockerignore_keeps_secrets_and_local_data_out_of_the_image():
    ignored = (BASE_DIR / ".dockerignore").read_text().splitlines()

    for entry in (".env", ".venv", ".git", "*.sqlite3"):
        assert entry in ignored


# --- The edge: the proxy in front of gunicorn -------------------------------------------------------


def gunicorn_config() -> dict:
    config: dict = {}
    exec((BASE_DIR / "deploy" / "gunicorn.conf.py").read_text(), config)  # noqa: S102 - our own config file
    return config


def test_only_the_proxy_is_published_and_gunicorn_is_not():
    services = compose()["services"]

    published = {name for name, service in services.items() if "ports" in service}
    assert published == {"proxy"}
    assert services["proxy"]["ports"] == ["80:80", "443:443"]
    assert services["web"]["expose"] == [str(PORT)]


def test_the_proxy_is_nginx_from_its_official_image_at_a_pinned_version():
    image = compose()["services"]["proxy"]["image"]

    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+", image), "a pinned nginx version, not a moving tag"


def test_the_proxy_runs_the_edge_configuration_in_front_of_gunicorn():
    proxy = compose()["services"]["proxy"]
    mounts = {target: source for source, target, *_ in (mount.split(":") for mount in proxy["volumes"])}
    main = (BASE_DIR / "deploy" / "nginx" / "nginx.conf").read_text()

    assert mounts["/etc/nginx/nginx.conf"] == "./deploy/nginx/nginx.conf"
    assert mounts["/etc/nginx/fido.conf"] == "./deploy/nginx/fido.conf"
    assert (BASE_DIR / mounts["/etc/nginx/fido.conf"]).is_file()
    assert "include /etc/nginx/fido.conf;" in main
    assert re.search(r"upstream fido_web \{[^}]*server web:(\d+);", main).group(1) == str(PORT)
    for port in ("80", "443 ssl"):
        assert f"listen {port};" in main
    assert mounts["/etc/nginx/tls"] == "./deploy/nginx/tls"


def test_only_the_proxys_fixed_address_may_set_forwarded_headers():
    spec = compose()
    subnet = ipaddress.ip_network(spec["networks"]["edge"]["ipam"]["config"][0]["subnet"])
    proxy_address = spec["services"]["proxy"]["networks"]["edge"]["ipv4_address"]

    assert ipaddress.ip_address(proxy_address) in subnet
    assert spec["services"]["web"]["environment"]["FORWARDED_ALLOW_IPS"] == proxy_address
    assert set(spec["services"]["web"]["networks"]) == {"default", "edge"}
    assert set(spec["services"]["proxy"]["networks"]) == {"edge"}
    # Nothing in the env file may widen it ("*" used to be the example).
    assert "FORWARDED_ALLOW_IPS" not in {
        line.split("=", 1)[0] for line in (BASE_DIR / "deploy" / "env.example").read_text().splitlines()
    }


def test_gunicorn_believes_one_forwarded_header_from_the_proxy_only():
    config = gunicorn_config()

    assert config["forwarded_allow_ips"] == "127.0.0.1"  # the default: a proxy on the same host
    assert config["secure_scheme_headers"] == {"X-FORWARDED-PROTO": "https"}
    assert config["forwarder_headers"] == ""


def test_gunicorn_limits_are_never_tighter_than_the_proxys():
    """gunicorn answers its own refusals in HTML: whatever nginx lets through, gunicorn must take."""
    config = gunicorn_config()
    edge = (BASE_DIR / "deploy" / "nginx" / "fido.conf").read_text()
    count, size_kib = map(int, re.search(r"large_client_header_buffers (\d+) (\d+)k;", edge).groups())
    first_kib = int(re.search(r"client_header_buffer_size (\d+)k;", edge).group(1))
    line_bytes = size_kib * 1024 - 2  # a line fills a buffer with its CRLF

    assert config["limit_request_line"] >= line_bytes
    assert config["limit_request_field_size"] >= line_bytes + 2 + 1  # gunicorn counts the CRLF; nginx adds a space
    shortest_header = len("a:b\r\n")
    assert config["limit_request_fields"] >= (first_kib + count * size_kib) * 1024 // shortest_header


def test_the_proxy_refuses_bodies_at_the_services_own_limit():
    """The same byte: a body the service would take always reaches it, and one it would refuse is refused
    unread by the proxy (let through, gunicorn would close on a body it never read, and nginx answer 502)."""
    from django.conf import settings

    edge = (BASE_DIR / "deploy" / "nginx" / "fido.conf").read_text()
    size, unit = re.search(r"client_max_body_size (\d+)([km]?);", edge).groups()

    assert int(size) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit] == settings.MAX_REQUEST_BODY_BYTES
