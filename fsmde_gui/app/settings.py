"""Persistent app state (QSettings): recent folders, window geometry/state, last mode.

``FSMDE_SETTINGS_FILE`` points the app at an INI file instead of the user's settings
(tests and benchmarks use it so they never touch a real profile)."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

MAX_RECENT = 8


def app_settings() -> QSettings:
    path = os.environ.get("FSMDE_SETTINGS_FILE")
    if path:
        return QSettings(path, QSettings.IniFormat)
    return QSettings("FSMDE", "FSMDE Studio")


def recent_folders(settings: QSettings) -> list[str]:
    value = settings.value("recent_folders", [])
    if isinstance(value, str):
        value = [value]
    return [v for v in (value or []) if v]


def add_recent_folder(settings: QSettings, folder: str | Path) -> list[str]:
    folder = str(Path(folder).resolve())
    items = [folder] + [f for f in recent_folders(settings) if f != folder]
    items = items[:MAX_RECENT]
    settings.setValue("recent_folders", items)
    return items
