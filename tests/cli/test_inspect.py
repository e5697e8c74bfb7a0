"""``kvsession sessions``, ``show`` and ``rm`` against fakeredis and the real Valkey server."""

from __future__ import annotations

import json

from kvsession.orm import get_codec
from kvsession.strands.models import MESSAGE
from kvsession.strands.repository import KVSessionRepository
from tests.cli.helpers import PNG, Cli, seed_chat, seed_demo


def test_sessions_lists_most_recent_first_with_counts(cli: Cli, repo: KVSessionRepository) -> None:
    seed_chat(repo, "older", {"default": 3})
    seed_chat(repo, "newer", {"triage": 2, "billing": 1})

    result = cli("sessions")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["SESSION", "UPDATED", "CREATED", "AGENTS", "MESSAGES"]
    assert lines[1].startswith("newer") and "3 (billing 1, triage 2)" in lines[1]
    assert lines[2].startswith("older") and lines[2].rstrip().endswith(" 3")
    assert lines[-1] == "2 session(s)"


def test_sessions_json_and_limit(cli: Cli, repo: KVSessionRepository) -> None:
    for number in range(3):
        seed_chat(repo, f"s{number}", {"default": number})

    result = cli("sessions", "--json", "--limit", "2")

    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [entry["session_id"] for entry in listed] == ["s2", "s1"]
    assert listed[0]["agents"] == {"default": 2}
    assert listed[0]["messages"] == 2
    assert listed[0]["updated_at"] >= listed[1]["updated_at"]
    table = cli("sessions", "--limit", "1")
    assert table.stdout.splitlines()[-1] == "first 1 session(s); --limit 3 to see all"


def test_sessions_prune_drops_entries_of_sessions_that_are_gone(cli: Cli, repo: KVSessionRepository) -> None:
    seed_chat(repo, "alive", {"default": 1})
    seed_chat(repo, "expired", {"default": 1})
    # What expiry leaves behind: every key gone, the sessions-index entry still there.
    repo.backend.delete_many(repo.session_keys("expired"))
    repo.backend.index_add(repo.keys.sessions_index("expired"), {"expired": 1.0})

    result = cli("sessions", "--prune", "--json")

    assert result.exit_code == 0, result.output
    assert [entry["session_id"] for entry in json.loads(result.stdout)] == ["alive"]
    assert "pruned 1 expired session(s)" in result.stderr
    assert [sid for sid, _ in repo.list_sessions()] == ["alive"]


def test_sessions_on_an_empty_store(cli: Cli) -> None:
    result = cli("sessions")
    assert result.exit_code == 0
    assert result.stdout == "0 session(s)\n"


def test_show_renders_a_readable_transcript(cli: Cli, repo: KVSessionRepository) -> None:
    seed_demo(repo)

    result = cli("show", "demo")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("session demo · AGENT · created ")
    assert 'metadata: {"user":"ana"}' in out
    assert "agent default · 6 message(s)" in out
    assert "What's the weather in Paris? Here is a photo." in out
    assert "[image png 200.0 KB]" in out
    assert '→ tool call get_weather [t1] {"city":"Paris"}' in out
    assert '← tool result [t1] success: {"temp_c":18}' in out
    assert "[document pdf 'report' 10.0 KB]" in out
    assert "[redacted: original withheld, 1 block(s); --json shows it]" in out
    assert "[User input redacted.]" in out
    assert "4111" not in out  # the redacted original is not shown


def test_show_json_holds_every_record_with_bytes_marked(cli: Cli, repo: KVSessionRepository) -> None:
    seed_demo(repo)

    result = cli("show", "demo", "--agent", "default", "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["session"]["metadata"] == {"user": "ana"}
    [agent] = document["agents"]
    assert agent["agent"]["state"] == {"city": "Paris"}
    assert [m["message_id"] for m in agent["messages"]] == list(range(6))
    image = agent["messages"][0]["message"]["content"][1]["image"]["source"]["bytes"]
    assert image["__bytes_encoded__"] is True
    decoded = get_codec("json").decode(MESSAGE, json.dumps(agent["messages"][0]).encode(), key="m0")
    assert decoded.message["content"][1]["image"]["source"]["bytes"] == PNG
    assert agent["messages"][5]["redact_message"]["content"] == [{"text": "[User input redacted.]"}]


def test_show_raw_lists_every_key_with_type_size_and_ttl(cli: Cli, repo: KVSessionRepository) -> None:
    seed_demo(repo)

    result = cli("show", "demo", "--raw")

    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:-1]}
    assert set(rows) == set(repo.session_keys("demo"))
    assert "session (json)" in rows["session:demo"]
    assert "message (json)" in rows["session:demo:agent:default:message:0"]
    assert "KB" in rows["session:demo:agent:default:message:0"]
    assert "6 member(s)" in rows["session:demo:agent:default:messages"]
    assert rows["session:demo:agents"].split()[1:] == ["set", "1", "member(s)", "none"]
    assert result.stdout.splitlines()[-1].startswith(f"{len(rows)} key(s), ")
    as_json = json.loads(cli("show", "demo", "--raw", "--json").stdout)
    assert {row["key"] for row in as_json} == set(rows)


def test_show_unknown_session_and_agent_fail_with_one_line(cli: Cli, repo: KVSessionRepository) -> None:
    seed_chat(repo, "chat", {"default": 1})

    unknown = cli("show", "nope")
    assert unknown.exit_code == 1
    assert unknown.stdout == ""
    assert unknown.stderr.startswith("error: unknown session 'nope' on ")
    assert unknown.stderr.count("\n") == 1

    agent = cli("show", "chat", "--agent", "ghost")
    assert agent.exit_code == 1
    assert agent.stderr == "error: session 'chat' has no agent 'ghost' (agents: default)\n"

    invalid = cli("show", "x" * 300)
    assert invalid.exit_code == 1
    assert invalid.stderr.startswith(f"error: session_id=<'{'x' * 300}'> | invalid id")

    spaced = cli("show", "bad id")  # any id Strands accepts is an id: this one is just unknown
    assert spaced.stderr.startswith("error: unknown session 'bad id' on ")


def test_rm_asks_then_deletes_every_key(cli: Cli, repo: KVSessionRepository) -> None:
    seed_demo(repo)
    seed_chat(repo, "keep", {"default": 1})
    keys = repo.session_keys("demo")

    declined = cli("rm", "demo", stdin="n\n")
    assert declined.exit_code == 1
    assert "Delete 1 session(s): demo?" in declined.stderr
    assert repo.read_session("demo") is not None

    accepted = cli("rm", "demo", stdin="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert accepted.stdout == f"deleted session 'demo' ({len(keys)} keys)\n"
    assert repo.read_session("demo") is None
    assert repo.session_keys("demo") == []
    assert [sid for sid, _ in repo.list_sessions()] == ["keep"]
    assert not any(repo.backend.exists(key) for key in keys)


def test_rm_is_idempotent_and_reports_missing_sessions(cli: Cli, repo: KVSessionRepository) -> None:
    seed_chat(repo, "a", {"default": 1})

    first = cli("rm", "a", "ghost", "--yes")
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [
        "session 'ghost' does not exist; nothing to delete",
        "deleted session 'a' (6 keys)",
    ]
    again = cli("rm", "a", "--yes")
    assert again.exit_code == 0
    assert again.stdout == "session 'a' does not exist; nothing to delete\n"
