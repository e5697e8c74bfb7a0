"""The typed record layer: declare a model once, store it in any backend with any codec.

- :class:`Model`: a Python type, a :class:`KeyTemplate`, indexes (:class:`OrderedIndex`,
  :class:`SetIndex`) and the group of keys that expire and are deleted together;
- converters: :class:`MsgspecConverter` (default, the fast path) and :class:`CattrsConverter`
  (attrs validators, cattrs hooks, schema upgrades);
- :class:`Codec`: the one place bytes are made and read (format sniffed on read), with the
  optional stages of :mod:`kvsession.orm.at_rest`: :class:`Compression` (zstd) and encryption
  with a :class:`Keyring` (AES-256-GCM);
- :class:`ModelStore`: typed reads, and typed writes queued onto one atomic batch.
"""

from kvsession.orm.at_rest import Compression, StoredForm, ValueStages, stored_form
from kvsession.orm.codec import Codec, get_codec
from kvsession.orm.converters import CattrsConverter, Converter, MsgspecConverter
from kvsession.orm.formats import FORMATS, Format, sniff_format
from kvsession.orm.keyring import Keyring
from kvsession.orm.keys import (
    KeySpace,
    KeyTemplate,
    id_from_segment,
    key_segment,
    validate_id,
    validate_message_id,
)
from kvsession.orm.model import Index, Model, OrderedIndex, SetIndex
from kvsession.orm.store import AsyncModelStore, Expiry, ModelStore

__all__ = [
    "FORMATS",
    "AsyncModelStore",
    "CattrsConverter",
    "Codec",
    "Compression",
    "Converter",
    "Expiry",
    "Format",
    "Index",
    "KeySpace",
    "KeyTemplate",
    "Keyring",
    "Model",
    "ModelStore",
    "MsgspecConverter",
    "OrderedIndex",
    "SetIndex",
    "StoredForm",
    "ValueStages",
    "get_codec",
    "id_from_segment",
    "key_segment",
    "sniff_format",
    "stored_form",
    "validate_id",
    "validate_message_id",
]
