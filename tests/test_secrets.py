"""Secrets are never printed: every repr, error, traceback, DEBUG log and CLI line reachable from
a URL with a password (plain, percent-encoded, or with raw ``/?#@:`` inside) is built, and all of
it is searched for the password and the encryption keys."""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Callable
from typing import cast
from urllib.parse import quote

import pytest

import kvsession
from kvsession.kv.config import parse_url, redact_url
from kvsession.kv.errors import KVSessionError
from kvsession.kv.protocol import KeyValueBackend
from kvsession.orm import Keyring
from kvsession.strands.repository import KVSessionRepository
from tests.cli.helpers import Cli, closed_port

# Each fragment must never appear; every password below is made of them.
FRAGMENTS = ("Zq9x", "Wv7y", "Ub5t")
PASSWORDS = {
    "plain": "Zq9xWv7yUb5t",
    "reserved": "Zq9x/Wv7y?Ub5t#Zq9x@Wv7y:Ub5t",
    "reserved-at-start": "/Zq9x?Wv7y#Ub5t",
    "ends-with-at": "Zq9x:Wv7y@Ub5t@",
}
KEY = Keyring.generate_key()
KEY_TEXTS = (base64.b64encode(KEY).decode(), base64.urlsafe_b64encode(KEY).decode())
OPTIONS = ["", "?ttl=-1", "?codec=yaml", "?nope=1", "?max_connections=x", "?encrypt=k1:" + KEY_TEXTS[0]]


def _urls(port: int) -> list[str]:
    urls = []
    for password in PASSWORDS.values():
        for written in (password, quote(password, safe="")):
            for where in (f"127.0.0.1:{port}/0", f"127.0.0.1:{port}/x", "127.0.0.1:port/0", f"[::1]:{port}"):
                for options in OPTIONS:
                    urls.append(f"valkey://user:{written}@{where}{options}")
    return urls


def _shown(exc: BaseException) -> str:
    """Everything an error shows: str, repr and the whole formatted traceback with its chain."""
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(type(exc), exc, exc.__traceback__)])


def _attempt(out: list[str], action: Callable[[], object]) -> object | None:
    try:
        result = action()
    except Exception as exc:
        out.append(_shown(exc))
        return None
    out.append(repr(result))
    return result


def _assert_clean(text: str) -> None:
    for secret in (*FRAGMENTS, *KEY_TEXTS, *(t[:12] for t in KEY_TEXTS)):
        assert secret not in text, f"{secret!r} printed in:\n{text[max(0, text.find(secret) - 300) :][:600]}"


def test_no_repr_error_traceback_or_log_shows_a_secret(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("APP_KEYS", f"k1:{KEY_TEXTS[0]}")
    out: list[str] = []
    port = closed_port()
    for url in _urls(port):
        out.append(redact_url(url))
        _attempt(out, lambda url=url: parse_url(url))  # type: ignore[misc]
        backend = cast(
            "KeyValueBackend | None",
            _attempt(out, lambda url=url: kvsession.connect(url, socket_connect_timeout=0.2, retries=0)),  # type: ignore[misc]
        )
        if backend is None:
            continue
        out += [repr(vars(backend)), str(vars(backend)), repr(backend.config), str(backend.config)]
        repo = _attempt(out, lambda b=backend: KVSessionRepository(b, keyring=Keyring.from_env("APP_KEYS")))  # type: ignore[misc]
        out += [repr(vars(repo)) if repo is not None else ""]
        _attempt(out, lambda b=backend: b.get("session:s1"))  # type: ignore[misc]
        backend.close()
    out += [record.getMessage() for record in caplog.records]
    out += [str(record.exc_info) for record in caplog.records if record.exc_info]
    assert any("cannot" in text or "refused" in text.lower() for text in out)  # errors were reached
    _assert_clean("\n".join(out))


def test_keyrings_and_stage_errors_never_show_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    out: list[str] = []
    keyring = Keyring([("k1", KEY)])
    out += [repr(keyring), str(keyring), repr(vars(keyring))]
    repo = KVSessionRepository(kvsession.connect("memory://"), keyring=keyring, compress="zstd")
    out += [repr(repo.codec), repr(repo.store.codec.stages), repr(vars(repo.store))]
    for text in (
        KEY_TEXTS[0],
        f"k1:{KEY_TEXTS[0][:-4]}",
        f"k1:{KEY_TEXTS[0]},k1:{KEY_TEXTS[1]}",
        KEY_TEXTS[0] + "!",
    ):
        monkeypatch.setenv("APP_KEYS", text)
        _attempt(out, lambda: Keyring.from_env("APP_KEYS"))
    _assert_clean("\n".join(out))


@pytest.mark.parametrize("name", list(PASSWORDS))
@pytest.mark.parametrize("encoded", [False, True], ids=["raw", "percent-encoded"])
@pytest.mark.parametrize("command", [["sessions"], ["stats"], ["recode"], ["show", "s1"]], ids=lambda c: c[0])
def test_cli_output_never_shows_the_password(name: str, encoded: bool, command: list[str]) -> None:
    password = quote(PASSWORDS[name], safe="") if encoded else PASSWORDS[name]
    port = closed_port()
    for url in (
        f"valkey://user:{password}@127.0.0.1:{port}/0",
        f"valkey://user:{password}@127.0.0.1:{port}/0?ttl=-1",
        f"valkey://user:{password}@127.0.0.1:x/0",
        f"valkey://user:{password}@127.0.0.1:{port}/0?encrypt=k1:{KEY_TEXTS[0]}",
    ):
        result = Cli(url)(*command)
        assert result.exit_code == 1
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        _assert_clean(result.output + result.stderr)


def test_redaction_hides_whole_passwords_and_pasted_keys() -> None:
    assert redact_url("valkey://u:a/b?c#d@h:1/0") == "valkey://u:***@h:1/0"
    assert redact_url("valkey://u:p@h:1/0?encrypt=env:KEYS") == "valkey://u:***@h:1/0?encrypt=env:KEYS"
    assert redact_url("memory://?encrypt=k1:AAAA&ttl=1") == "memory://?encrypt=***&ttl=1"
    with pytest.raises(KVSessionError, match="percent-encode") as info:
        parse_url("valkey://u:a/b@h:1/0")
    assert info.value.__cause__ is None and info.value.__context__ is None
