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
from typing import Any

from kvsession.kv.errors import InvalidIdError

__all__ = ["MAX_ID_LENGTH", "BoundTemplate", "KeySpace", "KeyTemplate", "validate_id", "validate_message_id"]

MAX_ID_LENGTH = 256

# ASCII characters that would break the key grammar or a hash tag, plus whitespace/control.
_FORBIDDEN_ASCII = re.compile(r"[:{}\s\x00-\x1f\x7f]")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(int|id))?\}")


def validate_id(kind: str, value: object) -> str:
    """Return ``value`` if it can be used as an id in a key, else raise.

    Args:
        kind: What the id names, for the error message (``"session_id"``, ``"agent_id"``).
        value: The candidate id.

    Raises:
        InvalidIdError: (a ``ValueError``) naming the id: not a str, empty, longer than
            256 characters, or containing ``:``, ``{``, ``}``, whitespace or control characters.
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
    if not value:
        raise InvalidIdError(kind, value, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdError(kind, value, f"longer than {MAX_ID_LENGTH} characters")
    bad = _FORBIDDEN_ASCII.search(value)
    if bad is not None:
        raise InvalidIdError(
            kind,
            value,
            f"contains {bad.group()!r}; ':', '{{', '}}', whitespace and control characters are not allowed",
        )
    if not value.isascii():
        for char in value:
            # Other/separator categories: C1 controls, format chars (zero-width), unassigned, line seps.
            if unicodedata.category(char)[0] in "CZ":
                raise InvalidIdError(kind, value, f"contains {char!r} (U+{ord(char):04X})")
    return value


def validate_message_id(value: object, kind: str = "message_id") -> int:
    """Return ``value`` if it is a non-negative int (a message id), else raise ``InvalidIdError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidIdError(kind, value, "must be a non-negative integer")
    return value


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

    Callers validate once at the entry point (``KeyTemplate.validated``); building is a plain
    ``str.format``, cheap enough for the restore path's thousand keys.
    """

    __slots__ = ("_format", "template")

    def __init__(self, template: KeyTemplate, format_string: str) -> None:
        self.template = template
        self._format = format_string

    def __call__(self, **fields: Any) -> str:
        """Build the key from validated field values (extra fields are ignored)."""
        return self._format.format_map(fields)

    def build(self, fields: Mapping[str, Any]) -> str:
        """Build the key from a mapping of validated field values."""
        return self._format.format_map(fields)

    def many(self, name: str, values: Iterable[object], fields: Mapping[str, Any]) -> list[str]:
        """Build one key per value of the field ``name``, the other fields fixed.

        When ``name`` is the template's last field and nothing follows it (a message key), the
        fixed head is formatted once and each key is a concatenation.
        """
        fmt = self._format
        marker = "{%s}" % name  # noqa: UP031
        if fmt.endswith(marker) and fmt.count(marker) == 1:
            head = fmt[: -len(marker)].format_map(fields)
            return [head + str(value) for value in values]
        return [fmt.format_map({**fields, name: value}) for value in values]

    def __repr__(self) -> str:
        return f"BoundTemplate({self._format!r})"
