"""Every key the orm writes is built here, from a declared template, after its fields are validated.

A template names its fields in braces: ``session:{session_id}:agent:{agent_id}:message:{message_id:int}``.
A field is an id (a ``str``, checked by :func:`validate_id`) unless marked ``:int`` (a non-negative
``int``). One field may be the *hash tag*: in a cluster key space its value is wrapped in ``{}``
(``session:{user-42}:...``), so every key sharing that value lands in one slot and one atomic
script. A :class:`KeySpace` adds the optional prefix and decides whether hash tags are written.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from kvsession.kv.errors import InvalidIdError

__all__ = [
    "MAX_ID_LENGTH",
    "MAX_INT_ID",
    "BoundTemplate",
    "KeySpace",
    "KeyTemplate",
    "id_from_segment",
    "key_segment",
    "validate_id",
    "validate_message_id",
]

MAX_ID_LENGTH = 256

# Characters that would break the key grammar (``:``), the cluster hash tag (``{`` ``}``) or a
# terminal (whitespace, controls): ids holding none of them are written into keys as they are.
_NEEDS_ESCAPE_ASCII = re.compile(r"[:{}\s\x00-\x1f\x7f]")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(int|id))?\}")
_ESCAPE: Final = "{"
_EMPTY_SEGMENT: Final = "{"


def validate_id(kind: str, value: object) -> str:
    """Return ``value`` if it can be used as an id, else raise.

    Every ``str`` Strands accepts as an id works, including ``tenant:user-42``, ``user 42``,
    ``a{b}``, unicode and the empty string: :func:`key_segment` escapes what a key cannot hold.
    Ids are exact: the NFC and NFD forms of the same text are two different ids (as they are
    two different files for Strands' ``FileSessionManager`` on Linux, and two S3 keys).

    Args:
        kind: What the id names, for the error message (``"session_id"``, ``"agent_id"``).
        value: The candidate id.

    Raises:
        InvalidIdError: (a ``ValueError``) naming the id: not a str, longer than 256
            characters, or not encodable as UTF-8 (a lone surrogate).
    """
    if type(value) is str:
        # The same few ids come back on every write of a session: remember the valid ones.
        return _validate_str_id(kind, value)
    return _validate_id(kind, value)


@functools.lru_cache(maxsize=4096)
def _validate_str_id(kind: str, value: str) -> str:
    return _validate_id(kind, value)


def _validate_id(kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidIdError(kind, value, f"must be a str, not {type(value).__name__}")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdError(kind, value, f"longer than {MAX_ID_LENGTH} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidIdError(kind, value, f"is not valid UTF-8 text ({exc.reason})") from None
    return value


@functools.lru_cache(maxsize=4096)
def key_segment(value: str) -> str:
    """Return the text an id takes inside a key: itself, unless it holds what a key cannot.

    Ids without ``:``, ``{``, ``}``, whitespace or control/format/separator characters (every
    id kvsession accepted before 0.2) are written as they are, so stored keys keep their names.
    In any other id each such character becomes ``{`` followed by its UTF-8 bytes in two-digit
    lowercase hex (``tenant:user-42`` -> ``tenant{3auser-42``, ``user 42`` -> ``user{2042``),
    and the empty id becomes ``{``. The result never holds ``:`` (keys stay unambiguous) nor
    ``}`` (in the cluster key space the hash tag ``{...}`` spans the whole id), and the ``{``
    that every escaped id holds tells it apart from every unescaped one, so the mapping is
    reversible (:func:`id_from_segment`).
    """
    if value and not _needs_escape(value):
        return value
    if not value:
        return _EMPTY_SEGMENT
    out: list[str] = []
    for char in value:
        if _char_needs_escape(char):
            out.extend(f"{_ESCAPE}{byte:02x}" for byte in char.encode("utf-8"))
        else:
            out.append(char)
    return "".join(out)


def id_from_segment(segment: str) -> str:
    """Return the id that :func:`key_segment` turned into ``segment``.

    Raises:
        InvalidIdError: ``segment`` is not something :func:`key_segment` writes.
    """
    if _ESCAPE not in segment:
        return segment
    if segment == _EMPTY_SEGMENT:
        return ""
    out = bytearray()
    position = 0
    while position < len(segment):
        char = segment[position]
        if char == _ESCAPE:
            digits = segment[position + 1 : position + 3]
            if len(digits) != 2 or not all(c in "0123456789abcdef" for c in digits):
                raise InvalidIdError("key segment", segment, f"bad escape at offset {position}")
            out.append(int(digits, 16))
            position += 3
        else:
            out.extend(char.encode("utf-8"))
            position += 1
    try:
        value = out.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidIdError("key segment", segment, "escapes are not UTF-8") from None
    if key_segment(value) != segment:
        raise InvalidIdError("key segment", segment, "not in the form kvsession writes")
    return value


def _needs_escape(value: str) -> bool:
    if _NEEDS_ESCAPE_ASCII.search(value) is not None:
        return True
    return not value.isascii() and any(_char_needs_escape(char) for char in value)


def _char_needs_escape(char: str) -> bool:
    if _NEEDS_ESCAPE_ASCII.match(char) is not None:
        return True
    # Other/separator categories: C1 controls, format chars (zero-width), unassigned, line seps.
    return not char.isascii() and unicodedata.category(char)[0] in "CZ"


MAX_INT_ID = 2**53 - 1
"""The largest integer id: ordered indexes score members by id, and a score (a double) holds
every integer up to 2**53 exactly."""


def validate_message_id(value: object, kind: str = "message_id") -> int:
    """Return ``value`` if it is an int from 0 to :data:`MAX_INT_ID` (a message id), else raise.

    Raises:
        InvalidIdError: naming the id (its first digits only, for a huge int).
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidIdError(kind, value, "must be a non-negative integer")
    if value > MAX_INT_ID:
        raise InvalidIdError(kind, _shown(value), f"larger than {MAX_INT_ID} (2**53 - 1)")
    return value


def _shown(value: int) -> object:
    # str() of an int beyond ~4300 digits raises ValueError: name a huge id by its size instead.
    return value if value.bit_length() < 256 else f"<an int of {value.bit_length()} bits>"


@dataclass(frozen=True, eq=False)  # identity: a template is declared once; hashing stays O(1)
class KeyTemplate:
    """A key shape with named fields, declared once per model, index or group.

    Args:
        pattern: Literal text with ``{field}`` (an id) and ``{field:int}`` placeholders.
        hash_tag: The field whose value becomes the cluster hash tag, if any.

    Example:
        >>> KeyTemplate("session:{session_id}:agent:{agent_id}", hash_tag="session_id")
    """

    pattern: str
    hash_tag: str | None = None
    fields: tuple[str, ...] = field(init=False)
    int_fields: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        found = [(m.group(1), m.group(2) == "int") for m in _PLACEHOLDER.finditer(self.pattern)]
        names = tuple(name for name, _ in found)
        if len(set(names)) != len(names):
            raise ValueError(f"pattern=<{self.pattern}> | a field appears twice")
        if self.hash_tag is not None and self.hash_tag not in names:
            raise ValueError(
                f"pattern=<{self.pattern}> | hash_tag {self.hash_tag!r} is not one of its fields"
            )
        object.__setattr__(self, "fields", names)
        object.__setattr__(self, "int_fields", frozenset(name for name, is_int in found if is_int))

    def validated(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Return this template's fields taken from ``values``, each validated.

        Raises:
            InvalidIdError: A field is missing or invalid; the error names it.
        """
        checked: dict[str, Any] = {}
        for name in self.fields:
            value = values.get(name)
            checked[name] = (
                validate_message_id(value, name) if name in self.int_fields else validate_id(name, value)
            )
        return checked

    def format_string(self, space: KeySpace) -> str:
        """Return the ``str.format`` string of this template in ``space`` (prefix, hash tag applied)."""

        def placeholder(match: re.Match[str]) -> str:
            name = match.group(1)
            if space.cluster and name == self.hash_tag:
                return "{{{%s}}}" % name  # noqa: UP031 -- literal braces around a format field
            return "{%s}" % name  # noqa: UP031

        out: list[str] = []
        position = 0
        for match in _PLACEHOLDER.finditer(self.pattern):
            out.append(self.pattern[position : match.start()].replace("{", "{{").replace("}", "}}"))
            out.append(placeholder(match))
            position = match.end()
        out.append(self.pattern[position:].replace("{", "{{").replace("}", "}}"))
        text = "".join(out)
        return f"{space.prefix}:{text}" if space.prefix else text


@dataclass(frozen=True)
class KeySpace:
    """Where keys live: an optional prefix, and whether hash tags are written (cluster).

    Attributes:
        prefix: Namespace put in front of every key, without the trailing ``:``.
        cluster: Wrap each template's hash-tag field in ``{}`` so related keys share a slot.
    """

    prefix: str = ""
    cluster: bool = False

    def bind(self, template: KeyTemplate) -> BoundTemplate:
        """Return ``template`` ready to build keys in this key space."""
        return BoundTemplate(template, template.format_string(self))


class BoundTemplate:
    """A template in a key space: builds keys from already validated field values.

    Callers validate once at the entry point (``KeyTemplate.validated``); building escapes each
    id field with :func:`key_segment` (a cached identity for ordinary ids) and formats: cheap
    enough for the restore path's thousand keys.
    """

    __slots__ = ("_format", "_id_fields", "template")

    def __init__(self, template: KeyTemplate, format_string: str) -> None:
        self.template = template
        self._format = format_string
        self._id_fields = tuple(name for name in template.fields if name not in template.int_fields)

    def _segments(self, fields: Mapping[str, Any]) -> Mapping[str, Any]:
        """``fields`` with each id escaped; the mapping itself when no id needs it (the usual case)."""
        escaped: dict[str, Any] | None = None
        for name in self._id_fields:
            value = fields.get(name)
            if type(value) is str:
                segment = key_segment(value)
                if segment != value:
                    if escaped is None:
                        escaped = dict(fields)
                    escaped[name] = segment
        return fields if escaped is None else escaped

    def __call__(self, **fields: Any) -> str:
        """Build the key from validated field values (extra fields are ignored)."""
        return self._format.format_map(self._segments(fields))

    def build(self, fields: Mapping[str, Any]) -> str:
        """Build the key from a mapping of validated field values."""
        return self._format.format_map(self._segments(fields))

    def many(self, name: str, values: Iterable[object], fields: Mapping[str, Any]) -> list[str]:
        """Build one key per value of the field ``name``, the other fields fixed.

        When ``name`` is the template's last field and nothing follows it (a message key), the
        fixed head is formatted once and each key is a concatenation.
        """
        fmt = self._format
        segments = self._segments(fields)
        escape = key_segment if name in self._id_fields else str
        marker = "{%s}" % name  # noqa: UP031
        if fmt.endswith(marker) and fmt.count(marker) == 1:
            head = fmt[: -len(marker)].format_map(segments)
            return [head + escape(value) for value in values]
        return [fmt.format_map({**segments, name: escape(value)}) for value in values]

    def __repr__(self) -> str:
        return f"BoundTemplate({self._format!r})"
