"""Helpers for multi-agent (Swarm / Graph) tests, shared by the suites."""

from __future__ import annotations

import asyncio
from typing import Any


def stop_after_first_node(orchestrator: Any, task: str) -> list[str]:
    """Run until the first node finishes, then drop the run, as a worker that is shut down would.

    Returns:
        The id of the node that finished (one element).
    """

    async def run() -> list[str]:
        seen: list[str] = []
        stream = orchestrator.stream_async(task)
        async for event in stream:
            if event.get("type") == "multiagent_node_stop":
                seen.append(str(event["node_id"]))
                break
        await stream.aclose()
        return seen

    return asyncio.run(run())
