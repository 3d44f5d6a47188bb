"""Caches that a process running for weeks can keep: each one bounded, or held
no longer than its key object lives. Safe to share between threads."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most ``maxsize`` values by key; the least recently used goes first."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> V:
        """Keep ``value`` for ``key`` (a value already there wins); return the kept one."""
        with self._lock:
            kept = self._items.setdefault(key, value)
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
            return kept

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        value = self.get(key)
        return self.put(key, make()) if value is None else value

    def __len__(self) -> int:
        return len(self._items)


class IdentityCache(Generic[T, V]):
    """Values computed per object, by identity (objects that compare equal are
    still different keys). An entry goes when its key is collected, and, with
    ``maxsize``, once ``maxsize`` other keys were used since. A value that refers
    to its own key keeps the key alive: for those only ``maxsize`` bounds it."""

    def __init__(self, maxsize: int | None = None) -> None:
        if maxsize is not None and maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._items: OrderedDict[int, tuple[weakref.ref[T], V]] = OrderedDict()
        self._lock = threading.Lock()
        # ids of collected keys: a collection may happen while this thread holds
        # the lock, so the callback only notes the id and the next access drops it
        self._dead: list[int] = []

    def get(self, key: T) -> V | None:
        entry = self._items.get(id(key))  # a dict read needs no lock
        if entry is None or entry[0]() is not key:
            return None
        if self.maxsize is not None:
            with self._lock:
                if id(key) in self._items:
                    self._items.move_to_end(id(key))
        return entry[1]

    def put(self, key: T, value: V) -> V:
        """Keep ``value`` for ``key`` (a value already there wins); return the kept one."""
        key_id, dead = id(key), self._dead
        ref = weakref.ref(key, lambda _: dead.append(key_id))
        with self._lock:
            self._purge()
            entry = self._items.get(key_id)
            if entry is not None and entry[0]() is key:
                self._items.move_to_end(key_id)
                return entry[1]
            self._items[key_id] = (ref, value)
            self._items.move_to_end(key_id)
            while self.maxsize is not None and len(self._items) > self.maxsize:
                self._items.popitem(last=False)
            return value

    def get_or_make(self, key: T, make: Callable[[], V]) -> V:
        """The value for ``key``, made when there is none (outside the lock:
        ``make`` may use this cache)."""
        value = self.get(key)
        return self.put(key, make()) if value is None else value

    def __len__(self) -> int:
        with self._lock:
            self._purge()
            return len(self._items)

    def _purge(self) -> None:
        while self._dead:
            key_id = self._dead.pop()
            entry = self._items.get(key_id)
            if entry is not None and entry[0]() is None:  # not a new key with a reused id
                del self._items[key_id]


class Same:
    """A key part that compares its value by identity, and holds it (so that
    its id is not reused while the key lives)."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Same) and other.value is self.value
