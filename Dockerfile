# syntax=docker/dockerfile:1
# The Fido transactions service: one image for web (gunicorn), worker and beat (Celery), and the
# one-shot migration. See docs/operators.md ("Deployment") and docker-compose.yml.

# --- build: wheels for every pinned runtime dependency ---------------------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY requirements.txt .
RUN pip wheel --wheel-dir /wheels -r requirements.txt && cp requirements.txt /wheels/

# --- runtime: the wheels, the code, collected static files; no compiler, no root ------------
FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000
RUN groupadd --system --gid 10001 fido \
    && useradd --system --uid 10001 --gid fido --home-dir /app --no-create-home --shell /usr/sbin/nologin fido \
    && mkdir -p /app /var/lib/fido \
    && chown fido:fido /var/lib/fido
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels -r /wheels/requirements.txt && rm -rf /wheels
COPY . .
# Static files are collected at build time with DEBUG off (the manifest whitenoise serves needs it).
# The settings refuse to start without valid secrets, so this one step gets throw-away values (a random
# Fernet key) that live only in its own environment: not in the image's configuration, never used at run time.
RUN DEBUG=0 SECRET_KEY=collectstatic-only FIELD_HASH_KEY=collectstatic-only \
    FIELD_ENCRYPTION_KEYS="$(python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')" \
    python manage.py collectstatic --noinput \
    && python -m compileall -q /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3).status != 200)"]
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "fido.wsgi:application"]
