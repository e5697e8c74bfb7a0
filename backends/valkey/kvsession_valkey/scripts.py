"""The server-side Lua script behind ``ValkeyBackend.apply``, and how a batch is encoded for it.

Why a script and not MULTI/EXEC: Valkey queues a transaction's commands and runs them all,
even when one of them fails at run time (a WRONGTYPE on the second command leaves the first
applied), and a queued ``SET NX`` that finds the key cannot cancel the commands around it.
A script runs atomically too (no other client runs a command in between), costs the same one
round trip, and can *check before it writes*: it first judges every condition and every
key's kind against the state the batch will see, returns an error code naming the offending
op if one fails, and only then performs the writes.

Encoding (one flat ``KEYS`` list, one flat ``ARGV`` list, both consumed in op order):

==========  ======================  ===========================================================
op          KEYS                    ARGV
==========  ======================  ===========================================================
set         key                     ``set``, flags, px, value. flags is two characters,
                                    ``1``/``0`` for only-if-absent then only-if-present; px is
                                    milliseconds, ``0`` for no expiry.
del         key_1 .. key_n          ``del``, n
zadd        key                     ``zadd``, n, score_1, member_1, .., score_n, member_n
zrem        key                     ``zrem``, n, member_1, .., member_n
sadd        key                     ``sadd``, n, member_1, .., member_n
srem        key                     ``srem``, n, member_1, .., member_n
pexpire     key                     ``pexpire``, px (``0`` deletes the key, as Valkey does)
refresh     members_key             ``refresh``, px, below_px: if the set ``members_key`` has
                                    less than below_px ms to live (or no expiry), PEXPIRE it and
                                    every key named by its members.
require     key                     ``require``, ``1`` (must exist) or ``0`` (must not); no write.
requireeq   key                     ``requireeq``, value: the key must hold exactly value (a
                                    value set earlier in the batch is compared); no write.
delgroup    members_key             ``delgroup``: DEL every key named by the set, then the set.
token       key                     ``token``, token, px. Always encoded first, whatever its
                                    place in the batch (at most one): if ``key`` holds exactly
                                    token the batch was applied before, and the script returns
                                    ``1`` at once, judging and writing nothing. Otherwise the
                                    batch runs as usual and, once every op is written,
                                    ``SET key token PX px``.
==========  ======================  ===========================================================

Every key is in ``KEYS`` so Valkey Cluster can route the script (all keys of one batch must
then share a hash tag, which the repository's cluster key scheme guarantees). The one exception
is ``refresh`` / ``delgroup``: the keys they touch are read from the set on the server, so they cannot be
declared up front; in a cluster they must share the set's hash tag (they do, being one
session's keys), and standalone Valkey places no restriction on them.

Slot migration: while a slot moves key by key (``CLUSTER SETSLOT … MIGRATING`` / ``IMPORTING``
and ``MIGRATE``), some of a session's keys are on the old node and some on the new one. A script
that reads a group and then touches keys it did not declare could delete or re-expire the keys
already local, then fail on one that moved: a partial effect. So a batch with a ``refresh`` or
``delgroup`` also declares, after every op's keys, one *guard* key per group (the set's key +
:data:`GUARD_SUFFIX`, same hash tag, never written by anyone). A key that never exists makes
Valkey refuse the script with ``TRYAGAIN`` (or send it on with ``ASK``, where it is refused
the same way) for as long as the slot is migrating, on either node; the client retries it after a
backoff. Once the slot is stable every key of the group is local, and the script runs whole.
Atomic slot migration (Valkey 9's ``CLUSTER MIGRATESLOTS``) never shows a half-moved slot.

Reply: integer ``0`` when the batch was applied, ``1`` when its token showed it was applied
before (nothing done), else ``{reason, op_number, detail}`` where reason is ``absent`` (an
only-if-absent key exists), ``present`` (an only-if-present key is missing), ``kind`` (detail is
the kind the key holds) or ``order`` (a group delete after another op on its set); op_number
counts from 1 over the ops other than the token, and is 0 for the token's own key.

The token costs one ``GET`` before the checks and one ``SET`` after the writes, inside the same
script: no extra round trip.

Memory: the script has no ``#!lua`` shebang (fakeredis, which runs the same script, cannot load
one; and a shebang script without ``allow-oom`` would refuse deletes on a full server too).
Valkey refuses such a script for OOM only at its first command that may grow memory, and only
if nothing was written before it, so a batch that adds anything first runs ``SETRANGE`` of no
bytes on its first key (a write that changes nothing) and returns its ``OOM`` error reply:
on a full server with ``noeviction`` the batch is refused whole (``OutOfMemoryError``), while a
batch that only deletes still runs. LRU: a key a batch requires present (a session's root) is
touched (``TOUCH``), since ``EXISTS`` leaves its LRU clock alone and ``allkeys-lru`` would take
it before the records that hang on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from kvsession.kv.errors import BackendError, ValueTooLargeError
from kvsession.kv.protocol import (
    DeleteGroupOp,
    DeleteOp,
    ExpireOp,
    IndexAddOp,
    IndexRemoveOp,
    RefreshTtlOp,
    RequireOp,
    SetAddOp,
    SetOp,
    SetRemoveOp,
    WriteOp,
    WriteTokenOp,
)

__all__ = [
    "BATCH_SCRIPT",
    "COMPARE_AND_SET_SCRIPT",
    "GUARD_SUFFIX",
    "encode_batch",
    "encode_score",
    "ttl_to_ms",
]

GUARD_SUFFIX = ":migrating-guard"
"""Appended to a group's key to name its guard key: declared by group ops, never written."""

COMPARE_AND_SET_SCRIPT = """
-- Replace each KEYS[i] only if it still holds ARGV[2i-1], keeping its expiry: a record
-- rewritten or deleted by a live writer between a tool's read and its write is left alone.
-- TYPE first: a GET on a key now holding another kind would fail half-way through the loop.
local done = 0
for i = 1, #KEYS do
  if redis.call('TYPE', KEYS[i])['ok'] == 'string' and redis.call('GET', KEYS[i]) == ARGV[2 * i - 1] then
    redis.call('SET', KEYS[i], ARGV[2 * i], 'KEEPTTL')
    done = done + 1
  end
end
return done
"""

BATCH_SCRIPT = """
-- kvsession atomic batch: check every op first, write only if all checks pass.
-- Two passes over ARGV, no per-op tables: this script runs on every append.
local unpack = unpack or table.unpack
-- Valkey's TYPE names mapped to the kinds kvsession speaks of (see kvsession.kv.protocol).
local KINDS = {string = 'value', zset = 'index', set = 'set', none = 'none'}
-- The kind each member-list op needs, and how many ARGV entries one of its members takes.
local WANT = {zadd = 'index', zrem = 'index', sadd = 'set', srem = 'set'}
local WIDTH = {zadd = 2, zrem = 1, sadd = 1, srem = 1}
-- Stay far below Lua's unpack() limit (LUAI_MAXCSTACK, 8000) for large member lists.
local CHUNK = 1000

-- Pass 1: judge each op against the state the ops before it will have left, exactly as
-- MemoryBackend._check does (a key deleted earlier in the batch counts as absent).
local planned = {}
local planned_values = {}  -- what a value set earlier in the batch will hold (for requireeq)
local function kind_of(key)
  local p = planned[key]
  if p ~= nil then return p end
  local t = redis.call('TYPE', key)['ok']
  return KINDS[t] or t
end
local function exists(key)
  local p = planned[key]
  if p ~= nil then return p ~= 'none' end
  return redis.call('EXISTS', key) == 1
end
local function check_kind(key, wanted, i)
  local current = kind_of(key)
  if current ~= 'none' and current ~= wanted then return {'kind', i, current} end
  return nil
end

-- Pass 0: the write token, encoded first. Holding it already means this very batch was
-- applied before (its reply was lost and it was re-sent): done, nothing to judge or write.
local start_a, start_k = 1, 1
local token_key, token, token_px
if ARGV[1] == 'token' then
  token_key, token, token_px = KEYS[1], ARGV[2], ARGV[3]
  local held = redis.pcall('GET', token_key)
  if type(held) == 'table' then  -- an error reply: the key holds an index or a set
    local t = redis.call('TYPE', token_key)['ok']
    return {'kind', 0, KINDS[t] or t}
  end
  if held == token then return 1 end
  start_a, start_k = 4, 2
end

local a, k, i, n = start_a, start_k, 0, #ARGV
local grows = false  -- does the batch write a value or add members (may it take memory)?
while a <= n do
  local code = ARGV[a]
  i = i + 1
  if code == 'set' then
    local key, flags = KEYS[k], ARGV[a + 1]
    if flags ~= '00' then
      local present = exists(key)
      if string.sub(flags, 1, 1) == '1' and present then return {'absent', i, ''} end
      if string.sub(flags, 2, 2) == '1' and not present then return {'present', i, ''} end
    end
    planned[key] = 'value'
    planned_values[key] = ARGV[a + 3]
    grows = true
    k = k + 1; a = a + 4
  elseif code == 'del' then
    local count = tonumber(ARGV[a + 1])
    for j = k, k + count - 1 do planned[KEYS[j]] = 'none' end
    k = k + count; a = a + 2
  elseif code == 'pexpire' then
    k = k + 1; a = a + 2
  elseif code == 'require' then
    local present = exists(KEYS[k])
    if ARGV[a + 1] == '1' and not present then return {'present', i, ''} end
    if ARGV[a + 1] == '0' and present then return {'absent', i, ''} end
    k = k + 1; a = a + 2
  elseif code == 'requireeq' then
    -- Anything but exactly these bytes as a value (missing, other bytes, another kind) fails.
    local key, held = KEYS[k], nil
    local p = planned[key]
    if p ~= nil then
      if p == 'value' then held = planned_values[key] end
    elseif redis.call('TYPE', key)['ok'] == 'string' then
      held = redis.call('GET', key)
    end
    if held ~= ARGV[a + 1] then return {'present', i, ''} end
    k = k + 1; a = a + 2
  elseif code == 'refresh' then
    local bad = check_kind(KEYS[k], 'set', i)
    if bad then return bad end
    k = k + 1; a = a + 3
  elseif code == 'delgroup' then
    local key = KEYS[k]
    -- Its members would be those of a set the batch itself changed: not tracked, refused.
    if planned[key] ~= nil then return {'order', i, ''} end
    local bad = check_kind(key, 'set', i)
    if bad then return bad end
    if kind_of(key) == 'set' then
      for _, member in ipairs(redis.call('SMEMBERS', key)) do planned[member] = 'none' end
    end
    planned[key] = 'none'
    k = k + 1; a = a + 1
  else
    -- zadd (n score/member pairs) or zrem / sadd / srem (n members)
    local key, wanted = KEYS[k], WANT[code]
    local bad = check_kind(key, wanted, i)
    if bad then return bad end
    local count = tonumber(ARGV[a + 1])
    -- An add of no members creates nothing (Valkey holds no empty containers).
    if (code == 'zadd' or code == 'sadd') and count > 0 then planned[key] = wanted; grows = true end
    k = k + 1; a = a + 2 + count * WIDTH[code]
  end
end

-- Memory: Valkey refuses a script without a shebang for OOM only at its first command that
-- may grow memory, and only if the script wrote nothing before it (after a first DEL the rest
-- would all run on a full server). So ask first, with a write that changes nothing (SETRANGE
-- of no bytes): on a full server with noeviction a batch that adds anything is refused whole.
-- A batch that only deletes (delete_session, clear_leftovers) still runs: it frees memory.
if grows then
  local probe = redis.pcall('SETRANGE', KEYS[1], 0, '')
  local err = type(probe) == 'table' and probe['err']
  if type(err) == 'string' and string.sub(err, 1, 3) == 'OOM' then return probe end
end

-- Pass 2: every check passed; write.
local function call_chunked(cmd, key, first, last)
  for j = first, last, CHUNK do
    redis.call(cmd, key, unpack(ARGV, j, math.min(j + CHUNK - 1, last)))
  end
end
a, k = start_a, start_k
while a <= n do
  local code = ARGV[a]
  if code == 'set' then
    if ARGV[a + 2] ~= '0' then
      redis.call('SET', KEYS[k], ARGV[a + 3], 'PX', ARGV[a + 2])
    else
      redis.call('SET', KEYS[k], ARGV[a + 3])
    end
    k = k + 1; a = a + 4
  elseif code == 'del' then
    local count = tonumber(ARGV[a + 1])
    for j = k, k + count - 1, CHUNK do
      redis.call('DEL', unpack(KEYS, j, math.min(j + CHUNK - 1, k + count - 1)))
    end
    k = k + count; a = a + 2
  elseif code == 'pexpire' then
    redis.call('PEXPIRE', KEYS[k], ARGV[a + 1])
    k = k + 1; a = a + 2
  elseif code == 'require' or code == 'requireeq' then
    -- A precondition, judged in pass 1. A key required present is what the written keys hang
    -- on (a session's root): EXISTS left its LRU clock alone, TOUCH keeps it at least as fresh
    -- as them, so allkeys-lru evicts a session's older records before its root.
    -- (pcall: an in-process double without TOUCH loses only this.)
    if code == 'requireeq' or ARGV[a + 1] == '1' then redis.pcall('TOUCH', KEYS[k]) end
    k = k + 1; a = a + 2
  elseif code == 'refresh' then
    -- PTTL: -2 missing (nothing to refresh), -1 no expiry (due), else ms left.
    local key, px = KEYS[k], ARGV[a + 1]
    local left = redis.call('PTTL', key)
    if left == -1 or (left >= 0 and left < tonumber(ARGV[a + 2])) then
      for _, member in ipairs(redis.call('SMEMBERS', key)) do
        redis.call('PEXPIRE', member, px)
      end
      redis.call('PEXPIRE', key, px)
    end
    k = k + 1; a = a + 3
  elseif code == 'delgroup' then
    local members = redis.call('SMEMBERS', KEYS[k])
    for j = 1, #members, CHUNK do
      redis.call('DEL', unpack(members, j, math.min(j + CHUNK - 1, #members)))
    end
    redis.call('DEL', KEYS[k])
    k = k + 1; a = a + 1
  else
    local count = tonumber(ARGV[a + 1]) * WIDTH[code]
    if count > 0 then call_chunked(string.upper(code), KEYS[k], a + 2, a + 1 + count) end
    k = k + 1; a = a + 2 + count
  end
end
if token_key then redis.call('SET', token_key, token, 'PX', token_px) end
return 0
"""
"""Lua source of the atomic batch (see the module docstring for its encoding)."""


def ttl_to_ms(ttl: float, *, key: str, minimum: int) -> int:
    """Convert a ttl in seconds to whole milliseconds, rounded up, at least ``minimum``.

    Rounding up keeps a key alive at least as long as asked; ``round(..., 6)`` first drops the
    float noise in e.g. ``0.2 * 1000 == 200.00000000000003`` so 0.2 s stays 200 ms.

    Raises:
        BackendError: ``ttl`` is not a finite number.
    """
    if not math.isfinite(ttl):
        raise BackendError(f"ttl must be a finite number of seconds, got {ttl!r}", key=key)
    return max(minimum, math.ceil(round(ttl * 1000, 6)))


def encode_score(score: float, *, key: str) -> str:
    """Render a score the way Valkey parses it exactly (``repr`` round-trips a float).

    Raises:
        BackendError: ``score`` is NaN, which Valkey refuses; refusing it here means a batch
            never fails half-way through its writes.
    """
    if score != score:  # NaN, without a function call on the hot path
        raise BackendError("an index score cannot be NaN", key=key)
    return repr(float(score))


_TOKEN_PX: dict[float, str] = {}
"""Each write-token ttl seen, in milliseconds as sent (a writer uses one ttl for all its tokens)."""

_FLAGS = {(False, False): "00", (True, False): "10", (False, True): "01", (True, True): "11"}
_MEMBER_CODES: dict[type, str] = {SetAddOp: "sadd", IndexRemoveOp: "zrem", SetRemoveOp: "srem"}


def encode_batch(
    ops: Sequence[WriteOp], *, max_value_bytes: int | None = None
) -> tuple[list[str], list[str | bytes]]:
    """Encode ``ops`` into the script's ``KEYS`` and ``ARGV`` lists.

    Every argument is validated here, before anything is sent, so the only failures left for
    the script are the ones it checks itself (conditions and kinds).

    Raises:
        ValueTooLargeError: A value is longer than ``max_value_bytes``.
        BackendError: A ttl or score Valkey would refuse.
    """
    keys: list[str] = []
    args: list[str | bytes] = []
    guards: list[str] = []
    for op in ops:
        # Exact type tests, most frequent first: this runs for every append. The casts are for
        # the type checker only (a call each would cost as much as the type test).
        kind = type(op)
        if kind is SetOp:
            if TYPE_CHECKING:
                op = cast("SetOp", op)
            keys.append(op.key)
            flags = _FLAGS[op.only_if_absent, op.only_if_present]
            if max_value_bytes is not None and len(op.value) > max_value_bytes:
                raise ValueTooLargeError(op.key, len(op.value), max_value_bytes)
            px = "0" if op.ttl is None else str(ttl_to_ms(op.ttl, key=op.key, minimum=1))
            args += ["set", flags, px, op.value if type(op.value) is bytes else bytes(op.value)]
        elif kind is IndexAddOp:
            if TYPE_CHECKING:
                op = cast("IndexAddOp", op)
            keys.append(op.key)
            args += ["zadd", str(len(op.members))]
            for member, score in op.members:
                args += [encode_score(score, key=op.key), member]
        elif kind is SetAddOp or kind is IndexRemoveOp or kind is SetRemoveOp:
            if TYPE_CHECKING:
                op = cast("SetAddOp | IndexRemoveOp | SetRemoveOp", op)
            keys.append(op.key)
            args += [_MEMBER_CODES[kind], str(len(op.members)), *op.members]
        elif kind is ExpireOp:
            if TYPE_CHECKING:
                op = cast("ExpireOp", op)
            keys.append(op.key)
            args += ["pexpire", str(ttl_to_ms(op.ttl, key=op.key, minimum=0))]
        elif kind is RefreshTtlOp:
            if TYPE_CHECKING:
                op = cast("RefreshTtlOp", op)
            keys.append(op.members_key)
            group_px = ttl_to_ms(op.ttl, key=op.members_key, minimum=0)
            below = ttl_to_ms(op.below, key=op.members_key, minimum=0)
            args += ["refresh", str(group_px), str(below)]
        elif kind is DeleteOp:
            if TYPE_CHECKING:
                op = cast("DeleteOp", op)
            keys.extend(op.keys)
            args += ["del", str(len(op.keys))]
        elif kind is RequireOp:
            if TYPE_CHECKING:
                op = cast("RequireOp", op)
            keys.append(op.key)
            if op.equals is None:
                args += ["require", "1" if op.present else "0"]
            else:
                args += ["requireeq", op.equals]
        elif kind is DeleteGroupOp:
            if TYPE_CHECKING:
                op = cast("DeleteGroupOp", op)
            keys.append(op.members_key)
            args += ["delgroup"]
        elif kind is WriteTokenOp:
            if TYPE_CHECKING:
                op = cast("WriteTokenOp", op)
            if args and args[0] == "token":
                raise BackendError("a batch carries at most one write token; batch not applied", key=op.key)
            # First, wherever it was queued: the script judges it before anything else.
            token_px = _TOKEN_PX.get(op.ttl)
            if token_px is None:
                token_px = str(ttl_to_ms(op.ttl, key=op.key, minimum=1))
                if len(_TOKEN_PX) < 64:
                    _TOKEN_PX[op.ttl] = token_px
            keys.insert(0, op.key)
            args[0:0] = ["token", op.token, token_px]
        else:
            raise TypeError(f"not a kvsession WriteOp: {op!r}")
        if kind is RefreshTtlOp or kind is DeleteGroupOp:
            guards.append(op.members_key + GUARD_SUFFIX)  # type: ignore[union-attr]
    keys += guards  # after every op's keys: the script never reads them
    return keys, args
