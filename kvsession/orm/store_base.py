"""``ModelStoreBase``: what a sync and an async model store share — everything but the I/O.

Keys (bound templates, validation), the codec and its stages, the expiry policy, the read
plans (:mod:`kvsession.orm.plans`) and the queuing of writes onto a
:class:`~kvsession.kv.batch.Batch`. :class:`~kvsession.orm.store.ModelStore` and
:class:`~kvsession.orm.store.AsyncModelStore` only run these plans and apply batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, cast

from kvsession.kv.batch import Batch
from kvsession.kv.errors import ConfigError
from kvsession.kv.protocol import KeyValueBackend, WriteOp
from kvsession.orm.at_rest import Compression, value_stages
from kvsession.orm.codec import Codec, get_codec
from kvsession.orm.expiry import Expiry
from kvsession.orm.keyring import Keyring
from kvsession.orm.keys import BoundTemplate, KeySpace, KeyTemplate
from kvsession.orm.model import Model, OrderedIndex, SetIndex
from kvsession.orm.plans import Io, Plan

if TYPE_CHECKING:
    from kvsession.kv.config import BackendConfig

__all__ = ["ModelStoreBase", "WriteMode"]

T = TypeVar("T")


class _Configured(Protocol):
    @property
    def config(self) -> BackendConfig: ...


B = TypeVar("B", bound=_Configured)
"""The backend of a store: a sync ``KeyValueBackend`` or an ``AsyncKeyValueBackend``."""


class _AwaitedBatches:
    """The backend of an async store's batches: they are applied by ``await store.apply(batch)``."""

    def apply(self, ops: Sequence[WriteOp]) -> None:
        raise TypeError("a batch of an AsyncModelStore is applied with `await store.apply(batch)`")


WriteMode = Literal["create", "replace"]


class ModelStoreBase(Generic[B]):
    """What a sync and an async model store share: keys, codec, expiry, queued writes, read plans.

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
        backend: B,
        *,
        codec: Codec | str | None = None,
        keys: KeySpace | None = None,
        expiry: Expiry | None = None,
        compress: Compression | Literal["none", "zstd"] | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        self.backend = backend
        config: BackendConfig = backend.config
        self.config = config
        options = config.store
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
        """Start an atomic batch (applied by the sync or async store, see the subclasses)."""
        raise NotImplementedError

    # -- read plans (one per read; the subclasses run them) -----------------------------------

    def plan_get(self, model: Model[T], **fields: Any) -> Plan[T | None]:
        """Plan of :meth:`ModelStore.get`."""
        key = self.key(model, **fields)
        data = yield from Io.get(key)
        return None if data is None else self.codec.decode(model, data, key=key)

    def plan_get_many(self, model: Model[T], fields: Sequence[Mapping[str, Any]]) -> Plan[list[T | None]]:
        """Plan of :meth:`ModelStore.get_many`."""
        keys = [self.key(model, **one) for one in fields]
        datas = yield from Io.get_many(keys)
        return [
            None if data is None else self.codec.decode(model, data, key=key)
            for key, data in zip(keys, datas, strict=True)
        ]

    def plan_members(self, index: SetIndex, **fields: Any) -> Plan[set[str]]:
        """Plan of :meth:`ModelStore.members`."""
        return (yield from Io.set_members(self.key(index.key, **fields)))

    def plan_index_window(
        self,
        index: OrderedIndex,
        *,
        offset: int = 0,
        limit: int | None = None,
        reverse: bool = False,
        **fields: Any,
    ) -> Plan[list[str]]:
        """Plan of :meth:`ModelStore.index_window`."""
        key = self.key(index.key, **fields)
        return (yield from Io.index_range(key, offset=offset, limit=limit, reverse=reverse))

    def plan_list_indexed(
        self,
        model: Model[T],
        index: OrderedIndex,
        *,
        offset: int = 0,
        limit: int | None = None,
        reverse: bool = False,
        **fields: Any,
    ) -> Plan[list[T]]:
        """Plan of :meth:`ModelStore.list_indexed`."""
        members = yield from self.plan_index_window(
            index, offset=offset, limit=limit, reverse=reverse, **fields
        )
        if not members:
            return []
        keys = self.record_keys(model, index.member, members, **fields)
        datas = yield from Io.get_many(keys)
        present = [(data, key) for data, key in zip(datas, keys, strict=True) if data is not None]
        return self.codec.decode_many(model, [data for data, _ in present], [key for _, key in present])

    def plan_touch(self, group: str) -> Plan[None]:
        """Plan of :meth:`ModelStore.touch` (no call without a ttl)."""
        if self.expiry is not None:
            batch = Batch(cast("KeyValueBackend", _AwaitedBatches()))
            batch.refresh_ttl(group, self.expiry.record_ttl, below=self.expiry.ttl)
            yield from Io.apply(batch.ops)

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
