"""Plain-Python events for the app's models (no Qt), in the manner of napari's ``EmitterGroup``.

``group = EmitterGroup("frame", "mode")``; ``group.frame.connect(callback)``; the model calls
``group.frame(value=3)`` and every callback receives an ``Event`` (``event.type``,
``event.value``, ``event.source``). Models emit only when a value really changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Event:
    type: str
    value: Any = None
    source: Any = None


class EventEmitter:
    """One event type: a list of callbacks, called in connection order."""

    def __init__(self, type_: str, source: Any = None):
        self.type = type_
        self.source = source
        self._callbacks: list[Callable[[Event], Any]] = []

    def connect(self, callback: Callable[[Event], Any]) -> Callable[[Event], Any]:
        """Call ``callback(event)`` on each emission (connecting twice is a no-op)."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[[Event], Any] | None = None) -> None:
        """Forget ``callback`` (or every callback when None)."""
        if callback is None:
            self._callbacks.clear()
        elif callback in self._callbacks:
            self._callbacks.remove(callback)

    @property
    def callbacks(self) -> tuple[Callable[[Event], Any], ...]:
        return tuple(self._callbacks)

    def __call__(self, value: Any = None) -> Event:
        event = Event(self.type, value, self.source)
        for callback in list(self._callbacks):
            callback(event)
        return event


class EmitterGroup:
    """Named emitters as attributes: ``group.frame``, ``group.mode``, ..."""

    def __init__(self, *types: str, source: Any = None):
        self._emitters = {t: EventEmitter(t, source) for t in types}

    def __getattr__(self, name: str) -> EventEmitter:
        try:
            return self.__dict__["_emitters"][name]
        except KeyError:
            raise AttributeError(f"no event {name!r}") from None

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(self._emitters)
