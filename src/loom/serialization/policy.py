"""Which component types a document may hold: the load policy.

As in pyagentspec 26.3.1, entries are type names or classes and match
subclasses; when allow and block entries both match a type, the closest one in
its class hierarchy wins, and a block wins a tie. ``StdioTransport`` (it starts
a local process) is blocked by default, as pyagentspec's adapters and WayFlow
do, until an allow entry admits it. Unlike pyagentspec, an allow list does not
refuse the types it does not name: it only lifts blocks (to admit only a few
types, block ``Component`` and allow those).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict

from loom.errors import ComponentRef, LoadError
from loom.spec.component import Component

PolicyEntry = str | type[Component]
PolicyInput = PolicyEntry | Iterable[PolicyEntry] | None


class PolicyArgs(TypedDict, total=False):
    """The policy keywords of :func:`loom.load`, to pass along as ``**args``."""

    allowed_components: PolicyInput
    blocked_components: PolicyInput

DEFAULT_BLOCKED: tuple[str, ...] = ("StdioTransport",)
_WHY_DEFAULT = {"StdioTransport": "it starts a local process named by the file"}


def _classes_by_name() -> dict[str, type[Component]]:
    found: dict[str, type[Component]] = {"Component": Component}
    stack: list[type[Component]] = [Component]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub.__name__ not in found:
                found[sub.__name__] = sub
                stack.append(sub)
    return found


def _entries(given: PolicyInput, option: str) -> tuple[type[Component], ...]:
    if given is None:
        return ()
    items: Iterable[object] = [given] if isinstance(given, (str, type)) else given
    known = _classes_by_name()
    classes: list[type[Component]] = []
    for item in items:
        if isinstance(item, type) and issubclass(item, Component):
            classes.append(item)
        elif isinstance(item, str) and item.strip() in known:
            classes.append(known[item.strip()])
        else:
            what = repr(item) if isinstance(item, str) else type(item).__name__
            raise LoadError(
                f"{option}: {what} is not a component type",
                hint="name component types as files write them (e.g. StdioTransport, "
                "ClientTransport) or pass loom.spec classes",
            )
    return tuple(classes)


def _distance(cls: type[Component], entries: tuple[type[Component], ...]) -> int | None:
    mro = cls.__mro__
    found = [mro.index(entry) for entry in entries if entry in mro]
    return min(found) if found else None


class ComponentPolicy:
    """The allow and block lists of one load; ``check`` refuses a blocked type."""

    def __init__(self, allowed: PolicyInput = None, blocked: PolicyInput = None) -> None:
        self.allowed = _entries(allowed, "allowed_components")
        self.blocked = _entries(blocked, "blocked_components")
        self._verdicts: dict[type[Component], str | None] = {}

    def refusal(self, cls: type[Component]) -> str | None:
        """Why ``cls`` may not load (None: it may)."""
        if cls not in self._verdicts:
            self._verdicts[cls] = self._judge(cls)
        return self._verdicts[cls]

    def _judge(self, cls: type[Component]) -> str | None:
        block, allow = _distance(cls, self.blocked), _distance(cls, self.allowed)
        if block is not None and (allow is None or block <= allow):
            return "user"
        if allow is None and any(b.__name__ in DEFAULT_BLOCKED for b in cls.__mro__):
            return "default"
        return None

    def check(self, cls: type[Component], ref: ComponentRef | None, path: str) -> None:
        why = self.refusal(cls)
        if why is None:
            return
        name = cls.__name__
        if why == "default":
            base = next(b.__name__ for b in cls.__mro__ if b.__name__ in DEFAULT_BLOCKED)
            raise LoadError(
                f"{name} is blocked by default: {_WHY_DEFAULT.get(base, 'it is unsafe')}",
                component=ref,
                path=path,
                hint=f"if you trust this configuration, allow it: --allow-components {name} "
                f"on the command line, allowed_components=[{name!r}] in Python",
            )
        entry = min(
            (e for e in self.blocked if e in cls.__mro__), key=cls.__mro__.index
        ).__name__
        closer = f", or allow {name} by name (closer than {entry})" if entry != name else ""
        raise LoadError(
            f"{name} is in the block list" + (f" (as a {entry})" if entry != name else ""),
            component=ref,
            path=path,
            hint=f"remove {entry} from --block-components / blocked_components{closer}",
        )


DEFAULT_POLICY = ComponentPolicy()


def load_policy(allowed: PolicyInput, blocked: PolicyInput) -> ComponentPolicy:
    """The policy for these lists (the shared default when neither is given)."""
    if allowed is None and blocked is None:
        return DEFAULT_POLICY
    return ComponentPolicy(allowed, blocked)
