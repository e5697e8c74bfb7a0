"""Strands Agents integration: session managers over the kvsession repository."""

from kvsession.strands.manager import KVSessionManager
from kvsession.strands.valkey import ValkeySessionManager

__all__ = ["KVSessionManager", "ValkeySessionManager"]
