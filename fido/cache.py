"""The response cache of every app: every key, TTL, generation and budget, get-or-compute, fail-open access.

Nothing else in the code base talks to the cache (but the readiness probe's PING). Each app only says how
its *kinds* of entry are computed (``transactions/history.py``: history; ``analytics/answers.py``:
analytics, daily, overview), registered here from its ``AppConfig.ready()``; the throttles
(``fido/throttling.py``) count through ``count`` or in the same round trip as a read. Keys, under the
cache's KEY_PREFIX (Redis; the in-process cache of the embedded mode holds the same keys and shapes):

- ``an:3:gen:<user>``: the user's generation, a random token installed by the first read after it is
  gone (``SET NX``, 24 h) and deleted after every committed write touching the user (both users on a
  move), and again when the worker processes the write's event (``repair_generations``).
- ``an:3:u:<user>``: a hash of the user's entries, one field per kind and parameters (``analytics``,
  ``daily``, ``history``), each ``{"g": generation, "e": epoch, "t": stored at, "v": value}``; a HIT only
  when ``g`` and ``e`` are the current ones and the entry is younger than ``ANALYTICS_CACHE_TTL``. Deleted
  with the generation. History values hold names: Fernet-encrypted like the database column.
- ``an:3:shared``: the same for entries shared by every user (the overview), with their own lifetime.
- ``an:3:epoch``: a random token every entry carries, replaced when a process lost more invalidations than
  it remembers (``OWED_MAX``): every entry of every user is then stale at once.
- ``an:3:lock:<hash>:<field>``: the dogpile guard: the first miss computes, identical misses wait briefly
  for its entry, then compute anyway.

**A read is one round trip**: the throttle windows (``SET NX EX`` + ``INCR``), the generation and epoch
(``SET NX`` each, then ``MGET``) and the entry (``HGET``), in one pipeline. Because it writes, a cache that
cannot take writes (read-only replica, full, write-paused) fails the whole round trip and the answer is
computed: a write's lost invalidation can never be served from there. A miss adds the lock and the store.

**Bounded**: a hash holds at most ``USER_ENTRIES`` entries and ``USER_BYTES`` of them (``SHARED_*`` for the
shared one); a store past either empties it and keeps only the new entry, so the distinct cursors, page sizes
and periods clients send cost at most that per user, while the few entries of normal use stay HITs.

**Fail-open**: every call goes through ``_run``: one attempt (redis-py retries are off in the settings)
bounded by the short socket timeout; any Redis or socket error makes it a miss that is computed, never an
error. After a failure the process skips Redis for a while (a circuit breaker: 0.5 s, doubling up to 5 s
while probes fail), so an outage costs at most one socket timeout per process and probe, not per call. An
invalidation that fails is remembered (``owe``): it goes first in the process's next round trip, and a thread
of the process retries it every second until it lands; the worker's ``repair_generations`` after processing
each event covers a process that died first.
"""

import hashlib
import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.conf import settings
from django.core.cache import caches
from django.core.signals import setting_changed
from django.dispatch import receiver
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from transactions.fields import DecryptionError, decrypt_str, encrypt_str

logger = logging.getLogger(__name__)

VERSION = 3  # 3: per-user hashes of entries (a budget per user), generations deleted rather than replaced
GENERATION_TTL = 24 * 60 * 60
EPOCH_KEY = f"an:{VERSION}:epoch"
SHARED_KEY = f"an:{VERSION}:shared"
LOCK_TTL_MS = 10_000  # a computing request holds the guard at most this long
LOCK_WAIT = 1.0  # seconds an identical miss waits for the first one's entry before computing itself
LOCK_POLL = 0.02
# The budget of one user (and of the shared entries): what clients' choices can make the service store.
# A 500-row history page of the longest names fits well inside USER_BYTES; normal use is a handful of entries.
USER_ENTRIES = 32
USER_BYTES = 512 * 1024
SHARED_ENTRIES = 64
SHARED_BYTES = 256 * 1024
BYTES_FIELD = "#bytes"  # the hash's running total of its entries' sizes
# Circuit breaker: after a failed round trip, skip Redis this long, doubling while the probes fail.
BREAKER_FIRST = 0.5
BREAKER_MAX = 5.0
REPAIR_INTERVAL = 1.0  # seconds between retries of the invalidations a process owes
OWED_MAX = 10_000  # user ids remembered; past it, the epoch is replaced instead
X_CACHE = "X-Cache"  # the response header saying HIT or MISS
FAULTS = (RedisError, ConnectionInterrupted, OSError)


@dataclass(frozen=True)
class Cached:
    """A response body and whether it came from the cache."""

    value: Any
    hit: bool

    @property
    def x_cache(self) -> str:
        """The X-Cache header's value."""
        return "HIT" if self.hit else "MISS"


class Counter(NamedTuple):
    """A counter incremented in a read's round trip (a throttle window): its key and lifetime in seconds."""

    key: str
    ttl: int


def entry_ttl() -> int:
    return settings.ANALYTICS_CACHE_TTL


def generation_key(user_id: int) -> str:
    return f"an:{VERSION}:gen:{user_id}"


def user_key(user_id: int) -> str:
    return f"an:{VERSION}:u:{user_id}"


def entry_field(kind: str, params: list) -> str:
    text = json.dumps(params, separators=(",", ":"))
    if len(text) > 64:  # cursors are long: keep fields short and bounded
        text = hashlib.sha256(text.encode()).hexdigest()
    return f"{kind}:{text}"


def lock_key(key: str, entry: str) -> str:
    return f"an:{VERSION}:lock:{key}:{entry}"


def new_token() -> str:
    return secrets.token_hex(8)


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
    """Make a kind known to get-or-compute (called from an AppConfig.ready())."""
    KINDS[name] = kind


# --- One round trip: a batch of operations, on Redis or in-process ------------------------------


class _Batch:
    """Operations sent together: one pipeline on Redis (one round trip), one locked step in-process."""

    def __init__(self, ops: list[tuple] | None = None) -> None:
        self.ops: list[tuple] = ops or []

    def _add(self, *op) -> int:
        self.ops.append(op)
        return len(self.ops) - 1

    def count(self, counter: Counter) -> int:
        return self._add("count", counter.key, counter.ttl)

    def stamp(self, user_id: int) -> int:
        """The user's generation and the epoch, each installed when missing: (generation, epoch)."""
        return self._add("stamp", generation_key(user_id), new_token(), new_token())

    def hget(self, key: str, entry: str) -> int:
        return self._add("hget", key, entry)

    def hstore(self, key: str, entry: str, data: bytes, grown: int, ttl: int) -> int:
        """Store an entry; the hash's (bytes, entries) after it."""
        return self._add("hstore", key, entry, data, grown, ttl)

    def hreset(self, key: str, entry: str, data: bytes, ttl: int) -> int:
        """Empty the hash, keeping only this entry."""
        return self._add("hreset", key, entry, data, ttl)

    def lock(self, key: str) -> int:
        return self._add("lock", key)

    def delete(self, keys: list[str]) -> int:
        return self._add("delete", keys)

    def replace(self, key: str, value: str) -> int:
        return self._add("replace", key, value)


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _on_redis(backend, client, batch: _Batch) -> list:
    pipe = client.pipeline(transaction=False)
    sizes = []
    key = backend.make_key
    for name, *args in batch.ops:
        if name == "count":
            pipe.set(key(args[0]), 0, ex=args[1], nx=True)
            pipe.incr(key(args[0]))
            sizes.append(2)
        elif name == "stamp":
            generation, epoch = key(args[0]), key(EPOCH_KEY)
            pipe.set(generation, args[1], ex=GENERATION_TTL, nx=True)
            pipe.set(epoch, args[2], nx=True)
            pipe.mget(generation, epoch)
            sizes.append(3)
        elif name == "hget":
            pipe.hget(key(args[0]), args[1])
            sizes.append(1)
        elif name == "hstore":
            hash_key, entry, data, grown, ttl = key(args[0]), *args[1:]
            pipe.hset(hash_key, entry, data)
            pipe.hincrby(hash_key, BYTES_FIELD, grown)
            pipe.hlen(hash_key)
            pipe.expire(hash_key, ttl)
            sizes.append(4)
        elif name == "hreset":
            hash_key, entry, data, ttl = key(args[0]), *args[1:]
            pipe.delete(hash_key)
            pipe.hset(hash_key, mapping={entry: data, BYTES_FIELD: len(data)})
            pipe.expire(hash_key, ttl)
            sizes.append(3)
        elif name == "lock":
            pipe.set(key(args[0]), 1, px=LOCK_TTL_MS, nx=True)
            sizes.append(1)
        elif name == "delete":
            pipe.delete(*[key(one) for one in args[0]])
            sizes.append(1)
        elif name == "replace":
            pipe.set(key(args[0]), args[1])
            sizes.append(1)
    replies = pipe.execute()  # raises the first error: one refused write fails the whole round trip
    results, at = [], 0
    for (name, *_args), size in zip(batch.ops, sizes, strict=True):
        reply = replies[at : at + size]
        at += size
        if name == "count":
            results.append(int(reply[1]))
        elif name == "stamp":
            results.append(tuple(_text(value) for value in reply[2]))
        elif name == "hstore":
            results.append((int(reply[1]), int(reply[2]) - 1))
        elif name == "lock":
            results.append(bool(reply[0]))
        else:
            results.append(reply[0])
    return results


_local_lock = threading.Lock()


def _on_local(backend, batch: _Batch) -> list:
    """The same operations on Django's in-process cache, one batch at a time (the embedded mode)."""
    results = []
    with _local_lock:
        for name, *args in batch.ops:
            if name == "count":
                backend.add(args[0], 0, timeout=args[1])
                try:
                    results.append(backend.incr(args[0]))
                except ValueError:  # expired between the two
                    backend.set(args[0], 1, timeout=args[1])
                    results.append(1)
            elif name == "stamp":
                backend.add(args[0], args[1], timeout=GENERATION_TTL)
                backend.add(EPOCH_KEY, args[2], timeout=None)
                results.append((backend.get(args[0]), backend.get(EPOCH_KEY)))
            elif name == "hget":
                results.append((backend.get(args[0]) or {}).get(args[1]))
            elif name == "hstore":
                key, entry, data, grown, ttl = args
                stored = backend.get(key) or {}
                stored[entry] = data
                stored[BYTES_FIELD] = stored.get(BYTES_FIELD, 0) + grown
                backend.set(key, stored, timeout=ttl)
                results.append((stored[BYTES_FIELD], len(stored) - 1))
            elif name == "hreset":
                key, entry, data, ttl = args
                backend.set(key, {entry: data, BYTES_FIELD: len(data)}, timeout=ttl)
                results.append(None)
            elif name == "lock":
                results.append(backend.add(args[0], 1, timeout=LOCK_TTL_MS // 1000))
            elif name == "delete":
                backend.delete_many(args[0])
                results.append(None)
            elif name == "replace":
                backend.set(args[0], args[1], timeout=None)
                results.append(None)
    return results


class _Link:
    """This process's view of the cache Redis: the circuit breaker and the invalidations it still owes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.era = 0
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.era += 1  # a repair thread of an earlier era stops
            self.open_until = 0.0  # 0: closed; otherwise calls skip Redis until then (monotonic)
            self.urgent_at = 0.0  # an invalidation may try again from then on (after one of them failed)
            self.delay = BREAKER_FIRST
            self.owed: set[int] = set()
            self.epoch_owed = False
            self.repairing = False
            self.logged_at = -math.inf

    def allows(self, urgent: bool) -> bool:
        """Whether a call may try Redis now; after the open period, the first caller probes for the others."""
        if not self.open_until:
            return True
        now = time.monotonic()
        with self.lock:
            if not self.open_until:
                return True
            if urgent:  # invalidations: one attempt per REPAIR_INTERVAL, whatever the breaker says
                return now >= self.urgent_at
            if now < self.open_until:
                return False
            self.open_until = now + self.delay  # this call is the probe; the others keep skipping meanwhile
            return True

    def failed(self, exc: Exception, urgent: bool) -> None:
        now = time.monotonic()
        with self.lock:
            self.delay = min(BREAKER_MAX, self.delay * 2) if self.open_until else BREAKER_FIRST
            self.open_until = now + self.delay
            if urgent:
                self.urgent_at = now + REPAIR_INTERVAL
            quiet = now - self.logged_at < BREAKER_MAX
            if not quiet:
                self.logged_at = now
        if not quiet:  # at most one line per BREAKER_MAX seconds, the error class only (never an address)
            logger.warning("Cache unavailable (%s): answering from the database meanwhile", type(exc).__name__)

    def succeeded(self) -> None:
        if self.open_until:
            with self.lock:
                self.open_until = 0.0
                self.delay = BREAKER_FIRST
                self.urgent_at = 0.0

    def owe(self, user_ids: Iterable[int]) -> None:
        """Remember invalidations that did not land; a thread retries them until they do."""
        with self.lock:
            self.owed.update(user_ids)
            if len(self.owed) > OWED_MAX:
                self.owed.clear()
                self.epoch_owed = True
            if self.repairing:
                return
            self.repairing = True
            era = self.era
        threading.Thread(target=_repair_loop, args=(era,), name="cache-repair", daemon=True).start()

    def owing(self) -> tuple[set[int], bool]:
        with self.lock:
            return set(self.owed), self.epoch_owed

    def settle(self, user_ids: set[int], epoch: bool) -> None:
        with self.lock:
            self.owed -= user_ids
            if epoch:
                self.epoch_owed = False


_link = _Link()


@receiver(setting_changed)
def _another_cache(setting: str, **kwargs) -> None:
    # Tests point the cache elsewhere: what this process knew of the old one no longer holds.
    if setting == "CACHES":
        _link.reset()


def _run(batch: _Batch, *, urgent: bool = False) -> list | None:
    """Run a batch in one round trip: its results, or None when the cache is unreachable or refuses (fail-open).

    While the process owes invalidations, they go first in the same round trip: no answer is read from
    Redis before they land.
    """
    if not batch.ops and not (urgent and (_link.owed or _link.epoch_owed)):
        return []
    backend = caches["default"]
    client = getattr(backend, "client", None)
    if client is None or not hasattr(client, "get_client"):
        return _on_local(backend, batch)
    if not _link.allows(urgent):
        return None
    owed, epoch = _link.owing() if _link.owed or _link.epoch_owed else (set(), False)
    debt = _invalidation(owed, epoch).ops
    try:
        results = _on_redis(backend, client.get_client(write=True), _Batch(debt + batch.ops))
    except FAULTS as exc:
        _link.failed(exc, urgent)
        return None
    _link.succeeded()
    if debt:
        _link.settle(owed, epoch)
    return results[len(debt) :]


# --- Invalidation ---------------------------------------------------------------------------------

_CHUNK = 500  # users per DEL


def _invalidation(user_ids: set[int], epoch: bool) -> _Batch:
    batch = _Batch()
    ids = sorted(user_ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        batch.delete([key for user_id in chunk for key in (generation_key(user_id), user_key(user_id))])
    if epoch:
        batch.replace(EPOCH_KEY, new_token())
    return batch


def bump_generations(user_ids: Iterable[int]) -> None:
    """Invalidate every cached response of these users (after their write committed); never raises.

    Deleting the generation (allowed even on a full Redis) makes the next read install a new one; the
    user's entries go with it. If it does not land, the process owes it and retries.
    """
    user_ids = set(user_ids)
    if user_ids and _run(_invalidation(user_ids, epoch=False)) is None:
        _link.owe(user_ids)


def repair_generations(user_ids: Iterable[int]) -> None:
    """Invalidate these users again, where their write's event is processed: a bump lost at commit (a Redis
    blip) is repaired here, so staleness is bounded by processing time, not by the TTL. One attempt whatever
    the breaker says (at most one per REPAIR_INTERVAL after a failed one); never raises."""
    user_ids = set(user_ids)
    if user_ids and _run(_invalidation(user_ids, epoch=False), urgent=True) is None:
        _link.owe(user_ids)


def _repair_loop(era: int) -> None:
    """Retry the owed invalidations every REPAIR_INTERVAL until none is left (a daemon thread per process)."""
    while True:
        time.sleep(REPAIR_INTERVAL)
        with _link.lock:
            if _link.era != era:
                return
            if not _link.owed and not _link.epoch_owed:
                _link.repairing = False
                return
        _run(_Batch(), urgent=True)  # an empty batch: only the debt, which _run puts first


# --- Get-or-compute ------------------------------------------------------------------------------


def count(counters: list[Counter]) -> list[int | None]:
    """Increment these counters in one round trip; None for each when the cache is unreachable."""
    batch = _Batch()
    for counter in counters:
        batch.count(counter)
    results = _run(batch)
    return list(results) if results is not None else [None] * len(counters)


@dataclass
class Read:
    """What one round trip found: the counters' values (None: unknown) and the entry, or how to compute it."""

    counts: list[int | None]
    hit: Cached | None
    miss: Callable[[], Cached] = field(repr=False)

    def answer(self) -> Cached:
        """The entry (HIT), or the value computed now (MISS) and stored when the cache takes it."""
        return self.hit if self.hit is not None else self.miss()


@dataclass(frozen=True)
class _Slot:
    """Where one entry lives and what makes it valid."""

    key: str  # the hash
    entry: str  # the field
    stamp: tuple  # (generation, epoch) it must carry; (None, None) for a shared entry
    ttl: int
    max_entries: int
    max_bytes: int

    def decoded(self, kind: Kind, raw) -> tuple[bool, Any]:
        if raw is None:
            return False, None
        try:
            stored = json.loads(raw)
            # (An entry from a host whose clock runs ahead looks younger: fine, the TTL bounds staleness loosely.)
            if (stored["g"], stored["e"]) != self.stamp or time.time() - stored["t"] >= self.ttl:
                return False, None
            return True, kind.decode(stored["v"])
        except (DecryptionError, ValueError, TypeError, KeyError):
            return False, None

    def encoded(self, kind: Kind, value: Any) -> bytes:
        generation, epoch = self.stamp
        stored = {"g": generation, "e": epoch, "t": round(time.time(), 3), "v": kind.encode(value)}
        return json.dumps(stored, separators=(",", ":")).encode()


def _read(kind_name: str, slot_of: Callable[[tuple], _Slot], batch: _Batch, stamp_at, compute, counters) -> Read:
    kind = KINDS[kind_name]
    counted = [batch.count(counter) for counter in counters]
    probe = slot_of((None, None))
    found = batch.hget(probe.key, probe.entry)
    results = _run(batch)
    if results is None:  # unreachable or refusing writes: computed, not stored
        return Read([None] * len(counters), None, lambda: Cached(compute(), hit=False))
    counts = [results[at] for at in counted]
    stamp = results[stamp_at] if stamp_at is not None else (None, None)
    if stamp_at is not None and None in stamp:  # deleted between install and read: a write just happened
        return Read(counts, None, lambda: Cached(compute(), hit=False))
    slot = slot_of(stamp)
    ok, value = slot.decoded(kind, results[found])
    if ok:
        hit = Cached(value, hit=True)
        return Read(counts, hit, lambda: hit)
    seen = len(results[found] or b"")
    return Read(counts, None, lambda: _guarded(kind, slot, compute, seen))


def _guarded(kind: Kind, slot: _Slot, compute: Callable[[], Any], seen: int) -> Cached:
    """Compute once for a burst of identical misses, then store within the budget (fail-open throughout)."""
    guard = _Batch()
    guard.lock(lock_key(slot.key, slot.entry))
    locked = _run(guard)
    if locked == [False]:  # another request computes it: wait for its entry (None: unreachable, do not wait)
        deadline = time.monotonic() + LOCK_WAIT
        while time.monotonic() < deadline:
            time.sleep(LOCK_POLL)
            poll = _Batch()
            poll.hget(slot.key, slot.entry)
            found = _run(poll)
            if found is None:
                break
            ok, value = slot.decoded(kind, found[0])
            if ok:
                return Cached(value, hit=True)
    release = [lock_key(slot.key, slot.entry)] if locked == [True] else []
    try:
        value = compute()
    except BaseException:
        if release:
            unlock = _Batch()
            unlock.delete(release)
            _run(unlock)
        raise
    _store(kind, slot, value, seen, release)
    return Cached(value, hit=False)


def _store(kind: Kind, slot: _Slot, value: Any, seen: int, release: list[str]) -> None:
    """Store an entry (and release the guard) in one round trip; past the budget, the hash keeps only this entry."""
    data = slot.encoded(kind, value)
    batch = _Batch()
    if release:
        batch.delete(release)
    fits = len(data) <= slot.max_bytes  # larger than a whole budget: served, never stored
    stored = batch.hstore(slot.key, slot.entry, data, len(data) - seen, slot.ttl) if fits else None
    results = _run(batch)
    if results is None or stored is None:
        return
    size, entries = results[stored]
    if size > slot.max_bytes or entries > slot.max_entries:
        reset = _Batch()
        reset.hreset(slot.key, slot.entry, data, slot.ttl)
        _run(reset)


def read_user_entry(kind_name: str, user_id: int, params: list, *, counters: list[Counter] = ()) -> Read:
    """A user's entry of this kind and parameters, under the user's generation, with `counters` in the same
    round trip; ``answer()`` gives it, or computes and stores it."""
    batch = _Batch()
    stamp_at = batch.stamp(user_id)

    def slot_of(stamp: tuple) -> _Slot:
        return _Slot(user_key(user_id), entry_field(kind_name, params), stamp, entry_ttl(), USER_ENTRIES, USER_BYTES)

    compute = lambda: KINDS[kind_name].compute(user_id, *params)  # noqa: E731 - read at call time (tests swap kinds)
    return _read(kind_name, slot_of, batch, stamp_at, compute, list(counters))


def read_shared_entry(kind_name: str, params: list, *, ttl: int, counters: list[Counter] = ()) -> Read:
    """An entry shared by every user (no generation), with `counters` in the same round trip; ``answer()``
    gives it, or computes it and stores it for `ttl` seconds."""

    def slot_of(stamp: tuple) -> _Slot:
        return _Slot(SHARED_KEY, entry_field(kind_name, params), stamp, ttl, SHARED_ENTRIES, SHARED_BYTES)

    compute = lambda: KINDS[kind_name].compute(*params)  # noqa: E731
    return _read(kind_name, slot_of, _Batch(), None, compute, list(counters))
