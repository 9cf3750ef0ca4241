"""The response cache of every app: every key, TTL and generation, get-or-compute, and the periodic refresh.

Nothing else in the code base invents cache keys. Each app only says how its *kinds* of entry are computed
(``transactions/history.py``: history; ``analytics/answers.py``: analytics, daily, overview), registered
here from its ``AppConfig.ready()``. Keys (under the cache's KEY_PREFIX):

- ``an:gen:<user>``: the user's generation, a random token replaced after every committed write
  touching the user (both users on a move). A random token rather than a counter, so a generation
  lost to eviction or expiry can never come back with a value an old entry still carries.
- ``an:2:<kind>:<user>:<params>``: ``{"g": generation, "v": value}`` for kind ``analytics``,
  ``daily`` and ``history``; read together with the generation in one ``get_many``, a HIT only
  when the two match. Lives ``ANALYTICS_CACHE_TTL`` seconds. History entries hold names, so their
  value is Fernet-encrypted like the database column (transactions/fields.py).
- ``an:2:overview:<params>``: ``{"v": value}``, an entry shared by every user, with its own lifetime.
- ``an:lock:<entry key>``: the dogpile guard: the first miss computes, identical misses wait
  briefly for its entry, then compute anyway (fail-open).
- ``an:hot``: a sorted set (Redis only; a dict in-process otherwise) of entries computed recently,
  scored by when; ``refresh_hot_entries`` recomputes those past half their TTL before they expire.

With Redis down or slow every call here returns after the client's short socket timeout as a miss
(``IGNORE_EXCEPTIONS``), and the answer is computed: slower, never wrong.
"""

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from transactions.fields import DecryptionError, decrypt_str, encrypt_str

logger = logging.getLogger(__name__)

# 2: history entries hold a page's rows (transactions/history.py), no longer their representation.
VERSION = 2
GENERATION_TTL = 24 * 60 * 60
LOCK_TTL = 10  # seconds a computing request holds the guard at most
LOCK_WAIT = 1.0  # seconds an identical miss waits for the first one's entry before computing itself
LOCK_POLL = 0.02
HOT_KEY = "an:hot"
X_CACHE = "X-Cache"  # the response header saying HIT or MISS

_local_hot: dict[str, float] = {}
_local_hot_lock = threading.Lock()


@dataclass(frozen=True)
class Cached:
    """A response body and whether it came from the cache."""

    value: Any
    hit: bool

    @property
    def x_cache(self) -> str:
        """The X-Cache header's value."""
        return "HIT" if self.hit else "MISS"


def entry_ttl() -> int:
    return settings.ANALYTICS_CACHE_TTL


def generation_key(user_id: int) -> str:
    return f"an:gen:{user_id}"


def entry_key(kind: str, user_id: int | None, params: list) -> str:
    text = json.dumps(params, separators=(",", ":"))
    if len(text) > 64:  # cursors are long: keep keys short and bounded
        text = hashlib.sha256(text.encode()).hexdigest()
    return f"an:{VERSION}:{kind}:{user_id if user_id is not None else '*'}:{text}"


def lock_key(key: str) -> str:
    return f"an:lock:{key}"


def new_generation() -> str:
    return secrets.token_hex(8)


def bump_generations(user_ids) -> None:
    """Invalidate every cached response of these users (call after their write committed)."""
    user_ids = sorted(set(user_ids))
    if user_ids:
        cache.set_many({generation_key(user_id): new_generation() for user_id in user_ids}, timeout=GENERATION_TTL)


# --- Kinds of entry -----------------------------------------------------------------------------


def seal(value: Any) -> str:
    """Encode an entry holding names: encrypted like the database column."""
    return encrypt_str(json.dumps(value, separators=(",", ":")))


def unseal(token: str) -> Any:
    return json.loads(decrypt_str(token))


def _plain(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Kind:
    """How one kind of entry is computed from its parameters (after the user id, if any) and stored."""

    compute: Callable[..., Any]
    encode: Callable[[Any], Any] = _plain
    decode: Callable[[Any], Any] = _plain


KINDS: dict[str, Kind] = {}


def register(name: str, kind: Kind) -> None:
    """Make a kind known to get-or-compute and to the periodic refresh (called from an AppConfig.ready())."""
    KINDS[name] = kind


# --- Get-or-compute ------------------------------------------------------------------------------


def _decoded(kind: Kind, entry: Any, generation: str | None) -> tuple[bool, Any]:
    """(True, value) when `entry` is a usable entry of `generation` (None: an overview entry)."""
    if not isinstance(entry, dict) or "v" not in entry or entry.get("g") != generation:
        return False, None
    try:
        return True, kind.decode(entry["v"])
    except (DecryptionError, ValueError, TypeError):
        return False, None


def _guarded(key: str, fresh: Callable[[Any], tuple[bool, Any]], compute: Callable[[], Any], store) -> Cached:
    """Compute once for a burst of identical misses; waiters take the first one's entry (fail-open)."""
    locked = cache.add(lock_key(key), 1, timeout=LOCK_TTL)
    if locked is False:  # another request computes it (None: the cache is unreachable, do not wait)
        deadline = time.monotonic() + LOCK_WAIT
        while time.monotonic() < deadline:
            time.sleep(LOCK_POLL)
            ok, value = fresh(cache.get(key))
            if ok:
                return Cached(value, hit=True)
    try:
        value = compute()
        store(value)
    finally:
        if locked:
            cache.delete(lock_key(key))
    return Cached(value, hit=False)


def _remember(kind_name: str, user_id: int | None, params: list) -> None:
    member = json.dumps([kind_name, user_id, params], separators=(",", ":"))
    if hasattr(cache, "zadd"):
        cache.zadd(HOT_KEY, {member: time.time()})
    else:
        with _local_hot_lock:
            _local_hot[member] = time.time()


def user_entry(kind_name: str, user_id: int, params: list) -> Cached:
    """A user's entry of this kind and parameters, read under the user's generation or computed and stored."""
    kind = KINDS[kind_name]
    gen_key, key = generation_key(user_id), entry_key(kind_name, user_id, params)
    found = cache.get_many([gen_key, key])
    generation = found.get(gen_key)
    if generation is not None:
        ok, value = _decoded(kind, found.get(key), generation)
        if ok:
            return Cached(value, hit=True)
    else:
        generation = new_generation()
        if not cache.add(gen_key, generation, timeout=GENERATION_TTL):
            generation = cache.get(gen_key)  # a concurrent reader or writer set it first (None: no cache)
    if generation is None:
        return Cached(kind.compute(user_id, *params), hit=False)

    def store(value: Any) -> None:
        cache.set(key, {"g": generation, "v": kind.encode(value)}, timeout=entry_ttl())
        _remember(kind_name, user_id, params)

    return _guarded(key, lambda entry: _decoded(kind, entry, generation), lambda: kind.compute(user_id, *params), store)


def shared_entry(kind_name: str, params: list, *, ttl: int) -> Cached:
    """An entry shared by every user (no generation): read, or computed and stored for `ttl` seconds."""
    kind = KINDS[kind_name]
    key = entry_key(kind_name, None, params)
    ok, value = _decoded(kind, cache.get(key), None)
    if ok:
        return Cached(value, hit=True)
    return _guarded(
        key,
        lambda entry: _decoded(kind, entry, None),
        lambda: kind.compute(*params),
        lambda value: cache.set(key, {"g": None, "v": kind.encode(value)}, timeout=ttl),
    )


# --- Periodic refresh ----------------------------------------------------------------------------


def _hot_members(older_than: float, newer_than: float) -> list[str]:
    if hasattr(cache, "zrangebyscore"):
        members = cache.zrangebyscore(HOT_KEY, newer_than, older_than) or []
        cache.zremrangebyscore(HOT_KEY, "-inf", older_than)
        return [member.decode() if isinstance(member, bytes) else member for member in members]
    with _local_hot_lock:
        members = [member for member, at in _local_hot.items() if newer_than <= at <= older_than]
        for member in [member for member, at in _local_hot.items() if at <= older_than]:
            del _local_hot[member]
    return members


def refresh_hot_entries() -> int:
    """Recompute the entries computed between one and a half TTL ago, before they expire; returns how many.

    So a user read often is rarely a miss, and a change made behind the API (a fix in SQL) shows
    within ANALYTICS_CACHE_TTL. Each refresh stores under the generation read *before* computing,
    so a write committed meanwhile still invalidates it.
    """
    now = time.time()
    refreshed = 0
    for member in _hot_members(older_than=now - entry_ttl() / 2, newer_than=now - entry_ttl()):
        try:
            kind_name, user_id, params = json.loads(member)
            kind = KINDS[kind_name]
        except (ValueError, KeyError, TypeError):
            continue
        generation = cache.get(generation_key(user_id))
        if generation is None:
            continue  # no generation: the next read computes anyway
        try:
            value = kind.compute(user_id, *params)
        except Exception:
            logger.exception("Refreshing the cached %s of user %s failed", kind_name, user_id)
            continue
        cache.set(entry_key(kind_name, user_id, params), {"g": generation, "v": kind.encode(value)}, entry_ttl())
        refreshed += 1
    return refreshed
