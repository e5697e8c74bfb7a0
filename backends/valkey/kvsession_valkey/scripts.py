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
delgroup    members_key             ``delgroup``: DEL every key named by the set, then the set.
==========  ======================  ===========================================================

Every key is in ``KEYS`` so Valkey Cluster can route the script (all keys of one batch must
then share a hash tag, which the repository's cluster key scheme guarantees). The one exception
is ``refresh`` / ``delgroup``: the keys they touch are read from the set on the server, so they cannot be
declared up front; in a cluster they must share the set's hash tag (they do, being one
session's keys), and standalone Valkey places no restriction on them.

Reply: integer ``0`` when the batch was applied, else ``{reason, op_number, detail}`` where
reason is ``absent`` (an only-if-absent key exists), ``present`` (an only-if-present key is
missing) or ``kind`` (detail is the kind the key holds); op_number counts from 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from kvsession.errors import BackendError
from kvsession.protocol import (
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
)

__all__ = ["BATCH_SCRIPT", "COMPARE_AND_SET_SCRIPT", "encode_batch", "encode_score", "ttl_to_ms"]

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
local unpack = unpack or table.unpack
-- Valkey's TYPE names mapped to the kinds kvsession speaks of (see kvsession.protocol).
local KINDS = {string = 'value', zset = 'index', set = 'set', none = 'none'}
-- Stay far below Lua's unpack() limit (LUAI_MAXCSTACK, 8000) for large member lists.
local CHUNK = 1000

local ops = {}
local a, k = 1, 1
while a <= #ARGV do
  local code = ARGV[a]
  local op = {code = code}
  if code == 'set' then
    op.key = KEYS[k]; k = k + 1
    op.flags = ARGV[a + 1]; op.px = ARGV[a + 2]; op.value = ARGV[a + 3]
    a = a + 4
  elseif code == 'del' then
    local n = tonumber(ARGV[a + 1])
    op.keys = {}
    for i = 1, n do op.keys[i] = KEYS[k]; k = k + 1 end
    a = a + 2
  elseif code == 'pexpire' then
    op.key = KEYS[k]; k = k + 1
    op.px = ARGV[a + 1]
    a = a + 2
  elseif code == 'refresh' then
    op.key = KEYS[k]; k = k + 1
    op.px = ARGV[a + 1]; op.below = tonumber(ARGV[a + 2])
    a = a + 3
  elseif code == 'require' then
    op.key = KEYS[k]; k = k + 1
    op.present = ARGV[a + 1] == '1'
    a = a + 2
  elseif code == 'delgroup' then
    op.key = KEYS[k]; k = k + 1
    a = a + 1
  else
    -- zadd (n score/member pairs) or zrem / sadd / srem (n members)
    op.key = KEYS[k]; k = k + 1
    local width = (code == 'zadd') and 2 or 1
    local count = tonumber(ARGV[a + 1]) * width
    op.args = {}
    for i = 1, count do op.args[i] = ARGV[a + 1 + i] end
    a = a + 2 + count
  end
  ops[#ops + 1] = op
end

-- Pass 1: judge each op against the state the ops before it will have left, exactly as
-- MemoryBackend._check does (a key deleted earlier in the batch counts as absent).
local planned = {}
local function kind_of(key)
  local p = planned[key]
  if p ~= nil then return p end
  local t = redis.call('TYPE', key)['ok']
  return KINDS[t] or t
end
for i, op in ipairs(ops) do
  local code = op.code
  if code == 'set' then
    local exists = kind_of(op.key) ~= 'none'
    if string.sub(op.flags, 1, 1) == '1' and exists then return {'absent', i, ''} end
    if string.sub(op.flags, 2, 2) == '1' and not exists then return {'present', i, ''} end
    planned[op.key] = 'value'
  elseif code == 'require' then
    local exists = kind_of(op.key) ~= 'none'
    if op.present and not exists then return {'present', i, ''} end
    if (not op.present) and exists then return {'absent', i, ''} end
  elseif code == 'del' then
    for _, key in ipairs(op.keys) do planned[key] = 'none' end
  elseif code == 'delgroup' then
    local current = kind_of(op.key)
    if current ~= 'none' and current ~= 'set' then return {'kind', i, current} end
    if planned[op.key] == nil and current == 'set' then
      for _, member in ipairs(redis.call('SMEMBERS', op.key)) do planned[member] = 'none' end
    end
    planned[op.key] = 'none'
  elseif code ~= 'pexpire' then
    -- zadd / zrem / sadd / srem / refresh
    local wanted = (code == 'zadd' or code == 'zrem') and 'index' or 'set'
    local current = kind_of(op.key)
    if current ~= 'none' and current ~= wanted then return {'kind', i, current} end
    if code == 'zadd' or code == 'sadd' then planned[op.key] = wanted end
  end
end

-- Pass 2: every check passed; write.
local function call_chunked(cmd, key, args)
  for i = 1, #args, CHUNK do
    redis.call(cmd, key, unpack(args, i, math.min(i + CHUNK - 1, #args)))
  end
end
for _, op in ipairs(ops) do
  local code = op.code
  if code == 'set' then
    if op.px ~= '0' then
      redis.call('SET', op.key, op.value, 'PX', op.px)
    else
      redis.call('SET', op.key, op.value)
    end
  elseif code == 'del' then
    for i = 1, #op.keys, CHUNK do
      redis.call('DEL', unpack(op.keys, i, math.min(i + CHUNK - 1, #op.keys)))
    end
  elseif code == 'pexpire' then
    redis.call('PEXPIRE', op.key, op.px)
  elseif code == 'require' then
    -- a precondition only: judged in pass 1
  elseif code == 'delgroup' then
    local members = redis.call('SMEMBERS', op.key)
    for i = 1, #members, CHUNK do
      redis.call('DEL', unpack(members, i, math.min(i + CHUNK - 1, #members)))
    end
    redis.call('DEL', op.key)
  elseif code == 'refresh' then
    -- PTTL: -2 missing (nothing to refresh), -1 no expiry (due), else ms left.
    local left = redis.call('PTTL', op.key)
    if left == -1 or (left >= 0 and left < op.below) then
      for _, member in ipairs(redis.call('SMEMBERS', op.key)) do
        redis.call('PEXPIRE', member, op.px)
      end
      redis.call('PEXPIRE', op.key, op.px)
    end
  elseif code == 'zadd' then
    call_chunked('ZADD', op.key, op.args)
  elseif code == 'zrem' then
    call_chunked('ZREM', op.key, op.args)
  elseif code == 'sadd' then
    call_chunked('SADD', op.key, op.args)
  else
    call_chunked('SREM', op.key, op.args)
  end
end
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
    if math.isnan(score):
        raise BackendError("an index score cannot be NaN", key=key)
    return repr(float(score))


def encode_batch(ops: Sequence[WriteOp]) -> tuple[list[str], list[str | bytes]]:
    """Encode ``ops`` into the script's ``KEYS`` and ``ARGV`` lists.

    Every argument is validated here, before anything is sent, so the only failures left for
    the script are the ones it checks itself (conditions and kinds).

    Raises:
        BackendError: A ttl or score Valkey would refuse.
    """
    keys: list[str] = []
    args: list[str | bytes] = []
    for op in ops:
        if isinstance(op, SetOp):
            keys.append(op.key)
            flags = f"{int(op.only_if_absent)}{int(op.only_if_present)}"
            px = 0 if op.ttl is None else ttl_to_ms(op.ttl, key=op.key, minimum=1)
            args += ["set", flags, str(px), bytes(op.value)]
        elif isinstance(op, DeleteOp):
            keys.extend(op.keys)
            args += ["del", str(len(op.keys))]
        elif isinstance(op, ExpireOp):
            keys.append(op.key)
            args += ["pexpire", str(ttl_to_ms(op.ttl, key=op.key, minimum=0))]
        elif isinstance(op, RequireOp):
            keys.append(op.key)
            args += ["require", "1" if op.present else "0"]
        elif isinstance(op, DeleteGroupOp):
            keys.append(op.members_key)
            args += ["delgroup"]
        elif isinstance(op, RefreshTtlOp):
            keys.append(op.members_key)
            px = ttl_to_ms(op.ttl, key=op.members_key, minimum=0)
            below = ttl_to_ms(op.below, key=op.members_key, minimum=0)
            args += ["refresh", str(px), str(below)]
        elif isinstance(op, IndexAddOp):
            keys.append(op.key)
            args += ["zadd", str(len(op.members))]
            for member, score in op.members:
                args += [encode_score(score, key=op.key), member]
        elif isinstance(op, IndexRemoveOp | SetAddOp | SetRemoveOp):
            code = "zrem" if isinstance(op, IndexRemoveOp) else "sadd" if isinstance(op, SetAddOp) else "srem"
            keys.append(op.key)
            args += [code, str(len(op.members)), *op.members]
        else:
            raise TypeError(f"not a kvsession WriteOp: {op!r}")
    return keys, args
