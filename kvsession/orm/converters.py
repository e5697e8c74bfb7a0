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

import json
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, Protocol, TypeVar

import cattrs
import msgspec
from cattrs.v import format_exception

from kvsession.orm.formats import (
    Format,
    encode_json,
    encode_msgpack,
    ext_hook,
    may_hold_marker,
    unmark_bytes,
    unmark_fields,
)

__all__ = ["CattrsConverter", "Converter", "MsgspecConverter", "Reader", "Upgrade"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

Reader = Callable[[bytes], T_co]
"""Decodes one stored value of a known format into an object."""

Upgrade = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns the document of version ``n`` of a model into that of version ``n + 1``."""

_MSGPACK_ENCODER: Final = msgspec.msgpack.Encoder()


def _is_untyped(info: msgspec.inspect.Type) -> bool:
    """Whether values of this type are free-form: ``Any``, or str-keyed dicts / lists down to ``Any``."""
    inspect = msgspec.inspect
    if isinstance(info, inspect.AnyType):
        return True
    if isinstance(info, inspect.DictType):
        return isinstance(info.key_type, (inspect.StrType, inspect.AnyType)) and _is_untyped(info.value_type)
    if isinstance(info, (inspect.ListType, inspect.VarTupleType)):
        return _is_untyped(info.item_type)
    if isinstance(info, inspect.UnionType):
        # ``dict[str, Any] | None`` is free-form; a union with a typed member (a Struct) is left to msgspec.
        members = [member for member in info.types if not isinstance(member, inspect.NoneType)]
        return bool(members) and all(_is_untyped(member) for member in members)
    return False


def untyped_fields(type_: Any) -> tuple[str, ...] | None:
    """Return the fields of ``type_`` that hold free-form values (``None``: ``type_`` itself is one).

    Free-form values are where a dict key could be anything: there MessagePack must store keys as
    JSON would (strings), while typed positions (``dict[int, str]``) round-trip by type in both.
    """
    try:
        info = msgspec.inspect.type_info(type_)
    except (TypeError, ValueError):
        return ()  # a type msgspec cannot describe: left to msgspec as it is
    if isinstance(info, msgspec.inspect.DictType) and _is_untyped(info):
        return None
    fields = getattr(info, "fields", ())
    return tuple(field.name for field in fields if _is_untyped(field.type))


def _json_fallback(data: bytes, error: msgspec.DecodeError) -> Any:
    """Parse what msgspec refused, if the standard library reads it.

    msgspec's JSON decoder rejects the literals ``NaN``, ``Infinity`` and ``-Infinity`` (which
    ``FileSessionManager`` writes, and so do we) and numbers like ``1e999``. Only malformed JSON
    gets here (a ``ValidationError`` is re-raised), so the ordinary read pays nothing; when the
    standard library fails too, msgspec's error (with its position) is the one raised.
    """
    if type(error) is not msgspec.DecodeError:
        raise error
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise error from None


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
        bytes_markers: JSON stores bytes as Strands' markers and reads markers back as bytes
            (default). ``False``: JSON refuses bytes, and marker-looking dicts are plain dicts
            both ways (Strands' multi-agent state, which ``FileSessionManager`` stores as is).
    """

    def __init__(
        self,
        type_: Any,
        *,
        stored_as: Any = None,
        load: Callable[[Any], T] | None = None,
        bytes_markers: bool = True,
    ) -> None:
        self.type = type_
        self._stored_as = type_ if stored_as is None else stored_as
        self._load = load
        self._markers = bytes_markers
        self._is_dict = getattr(self._stored_as, "__origin__", self._stored_as) is dict
        self._untyped = untyped_fields(self._stored_as)
        self._readers: dict[Format, Reader[T]] = {fmt: self._make_reader(fmt) for fmt in ("json", "msgpack")}

    def __repr__(self) -> str:
        return f"MsgspecConverter({getattr(self.type, '__name__', self.type)})"

    def encode(self, value: T, fmt: Format) -> bytes:
        """Encode ``value``; a dict model refuses anything but a dict.

        Free-form fields (``Any``, ``dict[str, Any]`` ...) read back from MessagePack as from JSON
        (dict keys as strings); a value that cannot be stored faithfully raises
        :class:`~kvsession.orm.formats.UnfaithfulValueError` naming its path.
        """
        if self._is_dict and not isinstance(value, dict):
            raise TypeError(f"must be a dict, not {type(value).__name__}")
        if fmt == "json":
            return encode_json(value, markers=self._markers, untyped=self._untyped)
        return encode_msgpack(value, self._untyped)

    def reader(self, fmt: Format) -> Reader[T]:
        """Return the decoder of ``fmt``."""
        return self._readers[fmt]

    def _make_reader(self, fmt: Format) -> Reader[T]:
        stored_as = self._stored_as
        decode: Callable[[bytes], Any] = (
            msgspec.json.Decoder(stored_as).decode
            if fmt == "json"
            else msgspec.msgpack.Decoder(stored_as, ext_hook=ext_hook).decode
        )
        load = self._load
        fields: tuple[str, ...] = getattr(stored_as, "__struct_fields__", None) or tuple(
            getattr(stored_as, "__dataclass_fields__", {})
        )
        is_dict = self._is_dict
        markers = fmt == "json" and self._markers

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

        def slowly(data: bytes, error: msgspec.DecodeError) -> Any:
            # NaN / Infinity written as json writes them: the standard library parses, msgspec types.
            document = _json_fallback(data, error)
            if markers:
                document = unmark_bytes(document)
            return msgspec.convert(document, stored_as)

        def read(data: bytes) -> T:
            try:
                obj = with_markers(data) if markers and may_hold_marker(fmt, data) else decode(data)
            except msgspec.DecodeError as error:
                if fmt != "json":
                    raise
                obj = slowly(data, error)
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
        if fmt == "json":
            return encode_json(document)
        return _MSGPACK_ENCODER.encode(document)

    def reader(self, fmt: Format) -> Reader[T]:
        """Return the decoder of ``fmt``: decode, restore bytes, upgrade, structure."""
        decode = (
            msgspec.json.Decoder().decode
            if fmt == "json"
            else msgspec.msgpack.Decoder(ext_hook=ext_hook).decode
        )

        def read(data: bytes) -> T:
            try:
                document = decode(data)
            except msgspec.DecodeError as error:
                if fmt != "json":
                    raise
                document = _json_fallback(data, error)
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
