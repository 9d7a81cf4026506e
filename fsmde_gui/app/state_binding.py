"""The main window's side of the viewer state: each ``ViewerState`` event updates the
widgets that show it (checked buttons, the split grid, the play timer, saved settings) and
redraws; the widgets' own signals only set the state (see ``MainWindow``)."""
from __future__ import annotations

from .tile_fit import fit_tiles


class StateBinding:
    """Mixin of ``MainWindow``: needs ``state``, the toolbar widgets and ``redraw_tiles``."""

    def _connect_state(self) -> None:
        """The widgets show the state: each of its events updates them (never the reverse)."""
        ev = self.state.events
        ev.position.connect(lambda e: self._load_current())
        ev.scene.connect(self._show_scene)
        ev.mode.connect(self._show_mode)
        ev.split.connect(self._show_split)
        ev.overlap_heat.connect(self._show_heat)
        ev.boxes.connect(self._show_boxes)
        ev.highlight_pair.connect(self._show_highlight)
        ev.playing.connect(self._show_playing)
        ev.interval_ms.connect(lambda e: self.play_timer.setInterval(e.value))

    def _sync_widgets(self) -> None:
        for show in (self._show_mode, self._show_split, self._show_heat, self._show_boxes,
                     self._show_playing):
            show()

    @staticmethod
    def _set_checked(widget, on: bool) -> None:
        widget.blockSignals(True)
        widget.setChecked(on)
        widget.blockSignals(False)

    def _show_scene(self, _event=None) -> None:
        self.scene_box.blockSignals(True)
        self.scene_box.setCurrentIndex(self.state.scene)
        self.scene_box.blockSignals(False)

    def _show_mode(self, _event=None) -> None:
        self._set_checked(self.mode_buttons[self.state.mode], True)
        self.settings.setValue("view/mode", self.state.mode)
        self.redraw_tiles()

    def _show_split(self, event=None) -> None:
        on = self.state.split
        self._set_checked(self.split_box, on)
        self.teacher_grid.setVisible(on)
        if event is not None:
            self.redraw_tiles()
            fit_tiles(self)

    def _show_heat(self, _event=None) -> None:
        self._set_checked(self.heat_box, self.state.overlap_heat)
        self.redraw_tiles()

    def _show_boxes(self, _event=None) -> None:
        on = self.state.boxes
        self._set_checked(self.boxes_box, on)
        self._set_checked(self.boxes_action, on)
        self.settings.setValue("view/boxes", on)
        self.redraw_tiles()

    def _show_highlight(self, _event=None) -> None:
        pair = self.state.highlight_pair
        self.consistency.show_pair(pair)
        self.cloud.set_highlight_pair(pair)
        self.redraw_tiles()

    def _show_playing(self, _event=None) -> None:
        on = self.state.playing
        self._set_checked(self.play_button, on)
        self.play_button.setText("❚❚ Pause" if on else "▶ Play")
        if on:
            self.play_timer.start(self.state.interval_ms)
        else:
            self.play_timer.stop()
