"""Declaring a model: its Python type, key template, indexes, group and converter.

A model is declared once and is immutable; a :class:`~kvsession.orm.store.ModelStore` reads and
writes it. Example, a user's profile kept with (and expiring with) the user's session::

    PROFILE = Model(
        "profile",
        Profile,                                   # an attrs class: cattrs converts it
        key=KeyTemplate("profile:{user_id}", hash_tag="user_id"),
        group=KeyTemplate("session:{user_id}:keys", hash_tag="user_id"),
    )
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import attrs

from kvsession.orm.converters import CattrsConverter, Converter, MsgspecConverter
from kvsession.orm.keys import KeyTemplate

__all__ = ["Index", "Model", "OrderedIndex", "SetIndex"]

T = TypeVar("T")


@dataclass(frozen=True)
class OrderedIndex:
    """An ordered index of a model's records (a sorted set): member and score from fields.

    Attributes:
        key: Template of the index key; its fields must be fields of the record's key.
        member: The field whose value (as text) is the member.
        score: The field whose value is the score; ``None`` gives every member score 0 (a
            lexicographic index).
    """

    key: KeyTemplate
    member: str
    score: str | None = None


@dataclass(frozen=True)
class SetIndex:
    """A set index of a model's records: the member is a field's value, as text.

    Attributes:
        key: Template of the index key; its fields must be fields of the record's key.
        member: The field whose value is the member.
    """

    key: KeyTemplate
    member: str


Index = OrderedIndex | SetIndex
"""Any index a model may declare."""


@dataclass(frozen=True, eq=False)
class Model(Generic[T]):
    """A kind of record: how it is typed, keyed, indexed, grouped and converted.

    Args:
        name: What the record is, for errors and tools (``"message"``).
        type: Its Python type: a msgspec Struct, dataclass, attrs class, TypedDict or dict.
        key: Its key template. Key fields are read from the object (attribute, or item of a
            mapping) unless the caller passes them, as for a dict record.
        indexes: Indexes every create adds the record to.
        group: Template of the set that lists the keys expiring and deleted together with
            this record (its fields must be fields of ``key``); ``None`` for no group.
        converter: How objects become bytes; default :class:`CattrsConverter` for attrs
            classes, else :class:`MsgspecConverter`.
    """

    name: str
    type: Any
    key: KeyTemplate
    indexes: tuple[Index, ...] = ()
    group: KeyTemplate | None = None
    converter: Converter[T] = None  # type: ignore[assignment]  # set in __post_init__

    def __post_init__(self) -> None:
        if self.converter is None:
            default: Converter[Any] = (
                CattrsConverter(self.type) if attrs.has(self.type) else MsgspecConverter(self.type)
            )
            object.__setattr__(self, "converter", default)
        record_fields = set(self.key.fields)
        for template in [*(index.key for index in self.indexes), *([self.group] if self.group else [])]:
            extra = set(template.fields) - record_fields
            if extra:
                raise ValueError(
                    f"model=<{self.name}> | {template.pattern} uses fields the key lacks: {extra}"
                )

    def __repr__(self) -> str:
        return f"Model({self.name!r}, key={self.key.pattern!r})"

    def key_fields(self, value: object, given: Mapping[str, Any]) -> dict[str, Any]:
        """Return the raw (unvalidated) key fields of ``value``: ``given`` first, then its own."""
        fields = dict(given)
        for name in self.key.fields:
            if name not in fields:
                fields[name] = value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)
        return fields
