"""Keeps the Celery worker alive when a Redis broker restarts (celery 5.7.0 with kombu 5.7.0).

The failure: on losing the broker, celery 5.7.0's worker calls ``Connection.collect()``, which
detaches the transport from its connection (``transport.client = None``), and then
``Connection.close()``. Closing the Redis channel again hands its unacknowledged messages (a task
running, a retry waiting for its countdown) back to the broker through a new connection pool, and
kombu builds that pool from ``transport.client``: ``AttributeError: 'NoneType' object has no
attribute 'hostname'`` in ``_connparams``, an error no caller expects, so the worker exits
("Unrecoverable error") and nothing is processed after the broker returns.

The fix, at the point of failure: a channel whose transport is detached has lost its broker, so
building a connection for it raises redis' ``ConnectionError``, which every caller on that path
already treats as a lost connection. The worker then reconnects when the broker returns. The
messages it could not hand back stay in the broker's unacked index (kombu restores them after the
visibility timeout); the outbox relay republishes their work long before that.

Neither pinning nor configuration avoids it: celery 5.6 lacks 5.7's own reconnect fixes, and the
only setting that removes unacknowledged messages (``ack_emulation=False``) loses a dying
worker's messages. Remove this module once kombu or celery handle the detached transport;
``tests/production/test_broker_restart.py`` reproduces the failure with a real redis-server.
"""

import functools

import redis
from kombu.transport import redis as kombu_redis


def _fail_as_lost_connection(connparams):
    @functools.wraps(connparams)
    def wrapper(channel, *args, **kwargs):
        if channel.connection.client is None:
            raise redis.exceptions.ConnectionError("the broker connection was closed")
        return connparams(channel, *args, **kwargs)

    wrapper.fido_broker_fix = True
    return wrapper


def apply() -> None:
    """Install the fix on kombu's Redis channel (idempotent)."""
    channel = kombu_redis.Channel
    if not getattr(channel._connparams, "fido_broker_fix", False):
        channel._connparams = _fail_as_lost_connection(channel._connparams)
