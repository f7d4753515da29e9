"""The local API Gateway WebSocket API (see `server.py` for how its parts fit together)."""

from .connections import GatewayCounters, PostTally
from .server import LocalGateway

__all__ = ["GatewayCounters", "LocalGateway", "PostTally"]
