"""``ModelStore``: typed reads, and typed writes queued onto one atomic batch.

A store binds a backend, a codec, a key space (prefix, cluster hash tags) and an expiry policy.
Reads are one round trip each (a list through an index two). Writes are queued onto a
:class:`~kvsession.kv.batch.Batch`, so records of several models, their index entries and
their group are written together or not at all, in one round trip::

    store = ModelStore(backend)
    with store.batch() as batch:
        store.create(batch, PROFILE, profile)
        store.create(batch, PREFERENCES, prefs, user_id="u1")
    store.get(PROFILE, user_id="u1")

Expiry: with a ttl, every record written expires ``ttl * (1 + slack)`` after its write, and the
record's group is re-expired together, server-side, only when less than ``ttl`` is left — so a
write costs no extra round trip and the O(N) refresh of a group runs at most once per
``ttl * slack`` seconds however many writes arrive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, TypeVar

from kvsession.kv.batch import Batch
from kvsession.kv.errors import ConfigError
from kvsession.kv.protocol import KeyValueBackend
from kvsession.orm.at_rest import Compression, value_stages
from kvsession.orm.codec import Codec, get_codec
from kvsession.orm.keyring import Keyring
from kvsession.orm.keys import BoundTemplate, KeySpace, KeyTemplate
from kvsession.orm.model import Model, OrderedIndex, SetIndex

__all__ = ["Expiry", "ModelStore"]

T = TypeVar("T")

WriteMode = Literal["create", "replace"]


@dataclass(frozen=True)
class Expiry:
    """How long records live after their last write.

    Attributes:
        ttl: Seconds of inactivity after which a record (and its group) expires.
        slack: Extra lifetime, as a fraction of ``ttl``, that lets a group refresh run only now
            and then instead of on every write.
    """

    ttl: float
    slack: float = 0.2

    def __post_init__(self) -> None:
        if not (math.isfinite(self.ttl) and self.ttl > 0):
            raise ValueError(f"ttl=<{self.ttl}> | must be a finite number of seconds above 0, or None")

    @classmethod
    def of(cls, ttl: float | timedelta | None, slack: float = 0.2) -> Expiry | None:
        """Return the policy for ``ttl`` (seconds or a ``timedelta``), or ``None`` for no expiry."""
        if isinstance(ttl, timedelta):
            ttl = ttl.total_seconds()
        return None if ttl is None else cls(ttl, slack)

    @property
    def record_ttl(self) -> float:
        """The ttl every write gives its record."""
        return self.ttl * (1 + self.slack)


class ModelStore:
    """Reads and writes model records in one backend.

    Args:
        backend: Where the bytes go. Its ``config.store`` supplies the defaults below.
        codec: A :class:`Codec` (which carries its own stages) or a format name; default the
            URL's ``codec``.
        keys: The key space; default the URL's ``prefix`` and ``key_scheme``.
        expiry: The expiry policy; default from the URL's ``ttl``.
        compress: ``"zstd"``, ``"none"`` or a :class:`Compression`; default the URL's
            ``compress`` and ``compress_threshold``.
        keyring: Encrypt every value with this keyring's newest key; default the keys the URL's
            ``encrypt=env:NAME`` names (none: values are not encrypted).

    Raises:
        ConfigError: ``compress`` or ``keyring`` given with a :class:`Codec` object, a codec
            that does not encrypt while the URL sets ``encrypt``, the keys ``encrypt=`` names
            are missing or malformed, or a stage's package is not installed.
    """

    def __init__(
        self,
        backend: KeyValueBackend,
        *,
        codec: Codec | str | None = None,
        keys: KeySpace | None = None,
        expiry: Expiry | None = None,
        compress: Compression | Literal["none", "zstd"] | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        options = backend.config.store
        self.backend = backend
        if isinstance(codec, Codec):
            if compress is not None or keyring is not None:
                raise ConfigError("codec | pass compress and keyring to the Codec, not beside it")
            writes_encrypted = codec.stages is not None and codec.stages.keyring is not None
            if options.encrypt is not None and not writes_encrypted:
                # Never a silent plaintext write: the URL asked for encryption.
                raise ConfigError(f"encrypt=<{options.encrypt}> | the codec given does not encrypt")
            self.codec = codec
        else:
            stages = value_stages(options, compression=compress, keyring=keyring)
            name = codec or options.codec
            self.codec = get_codec(name) if stages is None else Codec(name, stages=stages)
        self.keys = keys or KeySpace(prefix=options.prefix, cluster=options.key_scheme == "cluster")
        self.expiry = expiry if expiry is not None else Expiry.of(options.ttl)
        self._bound: dict[KeyTemplate, BoundTemplate] = {}

    # -- keys ---------------------------------------------------------------------------------

    def template(self, template: KeyTemplate) -> BoundTemplate:
        """Return ``template`` bound to this store's key space (cached)."""
        bound = self._bound.get(template)
        if bound is None:
            bound = self._bound[template] = self.keys.bind(template)
        return bound

    def key(self, template: KeyTemplate | Model[Any], **fields: Any) -> str:
        """Validate ``fields`` and build the key of ``template`` (or of a model's records).

        Raises:
            InvalidIdError: A field is missing or invalid.
        """
        if isinstance(template, Model):
            template = template.key
        return self.template(template).build(template.validated(fields))

    def batch(self) -> Batch:
        """Start an atomic batch on this store's backend (apply it, or use it as a ``with`` block)."""
        return Batch(self.backend)

    # -- reads --------------------------------------------------------------------------------

    def get(self, model: Model[T], **fields: Any) -> T | None:
        """Return the record of ``model`` with these key fields, or ``None`` (one round trip)."""
        key = self.key(model, **fields)
        data = self.backend.get(key)
        return None if data is None else self.codec.decode(model, data, key=key)

    def get_many(self, model: Model[T], fields: Sequence[Mapping[str, Any]]) -> list[T | None]:
        """Return the records named by each mapping of key fields, ``None`` where missing (one round trip)."""
        keys = [self.key(model, **one) for one in fields]
        datas = self.backend.get_many(keys) if keys else []
        return [
            None if data is None else self.codec.decode(model, data, key=key)
            for key, data in zip(keys, datas, strict=True)
        ]

    def members(self, index: SetIndex, **fields: Any) -> set[str]:
        """Return the members of a set index (one round trip)."""
        return self.backend.set_members(self.key(index.key, **fields))

    def index_window(
        self,
        index: OrderedIndex,
        *,
        offset: int = 0,
        limit: int | None = None,
        reverse: bool = False,
        **fields: Any,
    ) -> list[str]:
        """Return the members of an ordered index in order, skipping ``offset``, at most ``limit``."""
        return self.backend.index_range(
            self.key(index.key, **fields), offset=offset, limit=limit, reverse=reverse
        )

    def list_indexed(
        self,
        model: Model[T],
        index: OrderedIndex,
        *,
        offset: int = 0,
        limit: int | None = None,
        reverse: bool = False,
        **fields: Any,
    ) -> list[T]:
        """Return the records an ordered index lists, in its order (two round trips).

        ``index.member`` must be a field of the model's key; ``fields`` give the index's other
        fields. An entry whose record is gone (deleted or expired between the two round trips)
        is left out.
        """
        members = self.index_window(index, offset=offset, limit=limit, reverse=reverse, **fields)
        if not members:
            return []
        keys = self.record_keys(model, index.member, members, **fields)
        datas = self.backend.get_many(keys)
        present = [(data, key) for data, key in zip(datas, keys, strict=True) if data is not None]
        return self.codec.decode_many(model, [data for data, _ in present], [key for _, key in present])

    def record_keys(
        self, model: Model[Any], field: str, values: Iterable[object], **fields: Any
    ) -> list[str]:
        """Return the keys of the records whose ``field`` takes each of ``values``, others fixed.

        ``fields`` are validated once; ``values`` are taken as given (members read from an index).
        """
        fixed = model.key.validated({**fields, field: _placeholder(model.key, field)})
        return self.template(model.key).many(field, values, fixed)

    # -- writes, queued on a batch ------------------------------------------------------------

    def create(self, batch: Batch, model: Model[T], value: T, **fields: Any) -> str:
        """Queue the creation of one record (only if absent), its index entries and group entry.

        Returns:
            The record's key. If it exists when the batch runs, the batch raises
            ``ConflictError`` naming it and writes nothing.
        """
        return self.write(batch, model, [(value, fields)], mode="create")[0]

    def replace(self, batch: Batch, model: Model[T], value: T, **fields: Any) -> str:
        """Queue an overwrite of whatever the key holds (of any kind), with index and group entries."""
        return self.write(batch, model, [(value, fields)], mode="replace")[0]

    def write(
        self,
        batch: Batch,
        model: Model[T],
        records: Sequence[tuple[T, Mapping[str, Any]]],
        *,
        mode: WriteMode = "create",
        force_refresh: bool = False,
    ) -> list[str]:
        """Queue many records of one model, with one index op per index and one group op.

        Args:
            batch: Where the writes are queued.
            model: The records' model.
            records: ``(value, key fields)`` pairs; fields missing from a mapping are read
                from the value.
            mode: ``"create"`` (each record only if absent) or ``"replace"`` (overwrite).
            force_refresh: Re-expire the whole group now, due or not (a write of a group's
                root must not leave it outliving the rest).

        Returns:
            The records' keys, in order.
        """
        ttl = self.expiry.record_ttl if self.expiry else None
        record_template = self.template(model.key)
        keys: list[str] = []
        checked: list[dict[str, Any]] = []
        for value, given in records:
            fields = model.key.validated(model.key_fields(value, given))
            key = record_template.build(fields)
            if mode == "replace":
                # DEL then SET in one atomic batch replaces a value of any kind without asking
                # the server what the key holds.
                batch.delete(key)
            batch.set(key, self.codec.encode(model, value, key=key), only_if_absent=mode == "create", ttl=ttl)
            keys.append(key)
            checked.append(fields)
        index_keys = self._queue_index_entries(batch, model, checked)
        if model.group is not None and checked:
            group = self.template(model.group).build(checked[0])
            batch.set_add(group, *keys, *index_keys)
            self.keep_alive(batch, group, *index_keys, force=force_refresh)
        return keys

    def update(
        self, batch: Batch, model: Model[T], value: T, *, force_refresh: bool = False, **fields: Any
    ) -> str:
        """Queue a rewrite of an existing record (only if present); its group stays alive.

        ``force_refresh`` re-expires the whole group now (see :meth:`write`).

        Returns:
            The record's key. If it is missing when the batch runs, the batch raises
            ``ConflictError`` naming it and writes nothing.
        """
        checked = model.key.validated(model.key_fields(value, fields))
        key = self.template(model.key).build(checked)
        ttl = self.expiry.record_ttl if self.expiry else None
        batch.set(key, self.codec.encode(model, value, key=key), only_if_present=True, ttl=ttl)
        if model.group is not None:
            self.keep_alive(batch, self.template(model.group).build(checked), force=force_refresh)
        return key

    def delete(self, batch: Batch, model: Model[Any], **fields: Any) -> str:
        """Queue the deletion of one record, its index entries and its group entry."""
        checked = model.key.validated(fields)
        key = self.template(model.key).build(checked)
        batch.delete(key)
        for index in model.indexes:
            index_key = self.template(index.key).build(checked)
            member = str(checked[index.member])
            if isinstance(index, OrderedIndex):
                batch.index_remove(index_key, member)
            else:
                batch.set_remove(index_key, member)
        if model.group is not None:
            batch.set_remove(self.template(model.group).build(checked), key)
        return key

    # -- groups -------------------------------------------------------------------------------

    def delete_group(self, batch: Batch, group: KeyTemplate, **fields: Any) -> str:
        """Queue the deletion of a group's set and every key it lists (server-side); return its key."""
        key = self.key(group, **fields)
        batch.delete_group(key)
        return key

    def keep_alive(self, batch: Batch, group: str, *fresh_keys: str, force: bool = False) -> None:
        """With a ttl, queue the group's refresh: it runs only when due, or always with ``force``.

        ``fresh_keys`` (index keys this batch adds to) get a new expiry now: one may have just
        been created, and the group refresh, not due yet, would not cover it.
        """
        if self.expiry is None:
            return
        record_ttl = self.expiry.record_ttl
        for key in fresh_keys:
            batch.expire(key, record_ttl)
        # ``below`` above the ttl makes the refresh due now: every key gets the same expiry.
        below = 2 * record_ttl if force else self.expiry.ttl
        batch.refresh_ttl(group, record_ttl, below=below)

    def touch(self, group: str) -> None:
        """With a ttl, keep a group alive now if its refresh is due (one round trip)."""
        if self.expiry is not None:
            Batch(self.backend).refresh_ttl(group, self.expiry.record_ttl, below=self.expiry.ttl).apply()

    def _queue_index_entries(
        self, batch: Batch, model: Model[Any], checked: Sequence[dict[str, Any]]
    ) -> list[str]:
        """Queue each index's entries for these records (one op per index key); return the index keys."""
        index_keys: list[str] = []
        for index in model.indexes:
            template = self.template(index.key)
            by_key: dict[str, Sequence[dict[str, Any]]]
            if len(checked) == 1:  # an append: skip the grouping
                by_key = {template.build(checked[0]): checked}
            else:
                by_key = {}
                for fields in checked:
                    by_key.setdefault(template.build(fields), []).append(fields)  # type: ignore[attr-defined]
            for index_key, entries in by_key.items():
                if isinstance(index, OrderedIndex):
                    score = index.score
                    batch.index_add(
                        index_key,
                        {str(f[index.member]): (float(f[score]) if score else 0.0) for f in entries},
                    )
                else:
                    batch.set_add(index_key, *(str(f[index.member]) for f in entries))
                index_keys.append(index_key)
        return index_keys


def _placeholder(template: KeyTemplate, field: str) -> object:
    # A valid stand-in for the varying field, so the fixed ones can be validated together.
    return 0 if field in template.int_fields else "x"
