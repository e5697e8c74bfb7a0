"""Converters: a model's Python objects to a wire format's bytes and back.

A converter knows one Python type and both wire formats; it knows nothing of keys or errors
(:class:`~kvsession.orm.codec.Codec` names the key in every ``CodecError``). Two are provided:

- :class:`MsgspecConverter`, the fast path: msgspec Structs, dataclasses, TypedDicts, dicts,
  typed decoding straight into the target type (one pass that validates and builds).
- :class:`CattrsConverter`: attrs classes whose validators and converters must run, custom
  structure hooks on a ``cattrs.Converter``, and **schema upgrades**: a record written by an
  older version of a model is upgraded on read by a registered hook; the next write stores it
  in the new shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, Protocol, TypeVar

import cattrs
import msgspec
from cattrs.v import format_exception

from kvsession.orm.formats import Format, mark_bytes, may_hold_marker, unmark_bytes, unmark_fields

__all__ = ["CattrsConverter", "Converter", "MsgspecConverter", "Reader", "Upgrade"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

Reader = Callable[[bytes], T_co]
"""Decodes one stored value of a known format into an object."""

Upgrade = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns the document of version ``n`` of a model into that of version ``n + 1``."""

_JSON_ENCODER: Final = msgspec.json.Encoder()
_MSGPACK_ENCODER: Final = msgspec.msgpack.Encoder()


def _encode_document(value: Any, fmt: Format) -> bytes:
    if fmt == "json":
        return _JSON_ENCODER.encode(mark_bytes(value))
    return _MSGPACK_ENCODER.encode(value)


class Converter(Protocol[T]):
    """What a model needs to be stored: encode an object, and a reader per format.

    Both raise what they raise (``TypeError``, ``ValueError`` ...); the codec turns that into a
    ``CodecError`` naming the key. Encoding never modifies its argument; a reader returns a new
    object owned by the caller.
    """

    def encode(self, value: T, fmt: Format) -> bytes:
        """Encode ``value`` in ``fmt``."""
        ...

    def reader(self, fmt: Format) -> Reader[T]:
        """Return the function that decodes a value stored in ``fmt`` (built once, reused)."""
        ...


class MsgspecConverter(Generic[T]):
    """The fast path: msgspec encodes the object and decodes straight into a type.

    Args:
        type_: The model's type (a msgspec Struct, dataclass, TypedDict or ``dict[str, Any]``).
        stored_as: The type decoded from storage when it differs from ``type_``, e.g. a lenient
            Struct for a strict dataclass; ``load`` then turns it into a ``type_`` object.
        load: Builds the model object from a decoded ``stored_as`` object.
    """

    def __init__(
        self,
        type_: Any,
        *,
        stored_as: Any = None,
        load: Callable[[Any], T] | None = None,
    ) -> None:
        self.type = type_
        self._stored_as = type_ if stored_as is None else stored_as
        self._load = load
        self._is_dict = getattr(self._stored_as, "__origin__", self._stored_as) is dict
        self._readers: dict[Format, Reader[T]] = {fmt: self._make_reader(fmt) for fmt in ("json", "msgpack")}

    def __repr__(self) -> str:
        return f"MsgspecConverter({getattr(self.type, '__name__', self.type)})"

    def encode(self, value: T, fmt: Format) -> bytes:
        """Encode ``value``; a dict model refuses anything but a dict."""
        if self._is_dict and not isinstance(value, dict):
            raise TypeError(f"must be a dict, not {type(value).__name__}")
        return _encode_document(value, fmt)

    def reader(self, fmt: Format) -> Reader[T]:
        """Return the decoder of ``fmt``."""
        return self._readers[fmt]

    def _make_reader(self, fmt: Format) -> Reader[T]:
        stored_as = self._stored_as
        decode = (msgspec.json if fmt == "json" else msgspec.msgpack).Decoder(stored_as).decode
        load = self._load
        fields: tuple[str, ...] = getattr(stored_as, "__struct_fields__", None) or tuple(
            getattr(stored_as, "__dataclass_fields__", {})
        )
        is_dict = self._is_dict

        def with_markers(data: bytes) -> Any:
            try:
                obj = decode(data)
            except msgspec.ValidationError:
                # A field typed as bytes holds a marker: decode untyped, restore bytes, then type.
                return msgspec.convert(unmark_bytes(msgspec.json.decode(data)), stored_as)
            if is_dict:
                obj = unmark_bytes(obj)
                if not isinstance(obj, dict):
                    raise TypeError("the document is a bytes marker, not a dict")
            else:
                unmark_fields(obj, fields)
            return obj

        def read(data: bytes) -> T:
            obj = with_markers(data) if may_hold_marker(fmt, data) else decode(data)
            return obj if load is None else load(obj)

        return read


class CattrsConverter(Generic[T]):
    """attrs classes (validators, converters), cattrs hooks, and schema upgrades.

    Args:
        cls: The model's type, usually an attrs class.
        converter: The ``cattrs.Converter`` with your structure/unstructure hooks; default a
            plain one.
        version: The model's current schema version. Records of an older version are upgraded
            on read; records are written with ``version_field`` only when ``version > 1``.
        upgrades: ``{n: hook}``: ``hook`` turns a version-``n`` document (a dict) into version
            ``n + 1``. Every version from 1 to ``version - 1`` needs one.
        version_field: The document key that holds the version.

    Example:
        >>> profiles = CattrsConverter(Profile, version=2, upgrades={1: split_name})
    """

    def __init__(
        self,
        cls: type[T],
        *,
        converter: cattrs.Converter | None = None,
        version: int = 1,
        upgrades: Mapping[int, Upgrade] | None = None,
        version_field: str = "_version",
    ) -> None:
        if version < 1:
            raise ValueError(f"version=<{version}> | must be at least 1")
        self.type = cls
        self.version = version
        self.version_field = version_field
        self._cattrs = converter if converter is not None else cattrs.Converter()
        self._upgrades: dict[int, Upgrade] = dict(upgrades or {})
        missing = [n for n in range(1, version) if n not in self._upgrades]
        if missing:
            raise ValueError(f"version=<{version}> | no upgrade hook from version(s) {missing}")

    def __repr__(self) -> str:
        return f"CattrsConverter({self.type.__name__}, version={self.version})"

    def register_upgrade(self, from_version: int) -> Callable[[Upgrade], Upgrade]:
        """Register an upgrade hook, as a decorator: ``@converter.register_upgrade(1)``."""

        def register(hook: Upgrade) -> Upgrade:
            self._upgrades[from_version] = hook
            return hook

        return register

    def encode(self, value: T, fmt: Format) -> bytes:
        """Unstructure ``value`` with cattrs and encode the document, tagged with the version."""
        if not isinstance(value, self.type):
            raise TypeError(f"expected {self.type.__name__}, got {type(value).__name__}")
        document = self._cattrs.unstructure(value, self.type)
        if not isinstance(document, dict):
            raise TypeError(f"{self.type.__name__} must unstructure to a dict")
        if self.version > 1:
            document[self.version_field] = self.version
        return _encode_document(document, fmt)

    def reader(self, fmt: Format) -> Reader[T]:
        """Return the decoder of ``fmt``: decode, restore bytes, upgrade, structure."""
        decode = msgspec.json.decode if fmt == "json" else msgspec.msgpack.decode

        def read(data: bytes) -> T:
            document = decode(data)
            if may_hold_marker(fmt, data):
                document = unmark_bytes(document)
            if not isinstance(document, dict):
                raise TypeError(f"expected a document (a map), got {type(document).__name__}")
            return self.structure(document)

        return read

    def structure(self, document: dict[str, Any]) -> T:
        """Upgrade a decoded document to the current version and build the object.

        Raises:
            ValueError: The document is from a newer version, or a field is invalid; the
                message names each field at fault (``@ $.field``).
        """
        stored = document.pop(self.version_field, 1)
        if type(stored) is not int or stored < 1:
            raise ValueError(f"{self.version_field} must be a positive integer, got {stored!r}")
        if stored > self.version:
            raise ValueError(
                f"written by version {stored} of the model; this program knows up to {self.version}"
            )
        for from_version in range(stored, self.version):
            document = self._upgrades[from_version](document)
        try:
            structured: T = self._cattrs.structure(document, self.type)
            return structured
        except cattrs.BaseValidationError as exc:
            raise ValueError("; ".join(cattrs.transform_error(exc, format_exception=_describe))) from exc


def _describe(exc: BaseException, type_: type | None) -> str:
    # cattrs says only "invalid value" for what a validator raised; the validator's own message
    # names the field and the rule (attrs: "Length of 'name' must be >= 1: 0").
    described = format_exception(exc, type_)
    if described == "invalid value" and str(exc):
        return f"invalid value ({exc})"
    return described
