"""The Runtime: loads flows, compiles them with every executor, runs them, keeps
their checkpoints. It sits above the engine, the executors and the agents, which
never import it."""

from loom.runtime.host.runtime import Runtime

__all__ = ["Runtime"]
