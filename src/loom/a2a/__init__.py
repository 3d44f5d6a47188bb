"""Remote agents over the Agent-to-Agent protocol (``pip install 'loom[a2a]'``).

``A2ARunner`` runs an A2AAgent for the runtime (the core reaches it through
``loom._optional.require``); ``A2ASession`` is the client of one remote agent,
usable on its own.
"""

from loom._optional import require

require("a2a.client", "a2a", "an A2AAgent", package="a2a-sdk")

from loom.a2a.client import A2ASession, RemoteError, RemoteTimeout, Snapshot  # noqa: E402
from loom.a2a.runner import A2ARunner  # noqa: E402

__all__ = ["A2ARunner", "A2ASession", "RemoteError", "RemoteTimeout", "Snapshot"]
