"""`fsmde-gui` / `python main.py`: start the FSMDE Studio app.

    fsmde-gui                                   # bundled sample scenes (or the last folder)
    fsmde-gui --dataset DIR --frame N           # a dataset folder (nuScenes / DDAD / simulator)
    fsmde-gui --dataset DIR --frame N --screenshot FILE.png [--mode MODE] [--view3d PRESET]
              [--boxes] [--split]               # headless render of every panel, save, exit 0
    fsmde-gui --dataset DIR --version v1.0-trainval --scenes scene-0061,scene-0103
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from ..app_model.session import DEFAULT_STUDENT, DEFAULT_TEACHER, SAMPLE_SCENES, Session
from ..app_model.tiles import MODES
from ..commands.dataset_args import parse_scene_list
from ..core.atomic_io import atomic_write_bytes
from ..core.errors import FsmdeError
from ..core.types import CAMERA_NAMES, SHORT_NAMES
from .cloud_view import PRESETS
from .main_window import MainWindow
from .settings import app_settings, recent_folders
from .theme import apply_dark_theme

SCREENSHOT_TIMEOUT_S = 600


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fsmde-gui", description="FSMDE Studio desktop app",
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--dataset", default=None, help="dataset folder (default: resources/sample_scenes)")
    p.add_argument("--scene", type=int, default=None,
                   help="scene index (default: the first scene with frames)")
    p.add_argument("--frame", type=int, default=0, help="frame index (default 0)")
    p.add_argument("--mode", choices=MODES, default=None, help="tile mode")
    p.add_argument("--view3d", choices=sorted(PRESETS), default=None, help="3D view preset")
    p.add_argument("--split", action="store_true", help="show student and teacher tiles side by side")
    p.add_argument("--heat", action="store_true", help="tint overlap bands by cross-view consistency")
    p.add_argument("--boxes", action="store_true", help="draw the 3D boxes into the camera tiles")
    p.add_argument("--version", default=None, metavar="v1.0-*",
                   help="nuScenes release to open when the folder holds several")
    p.add_argument("--scenes", default=None, metavar="NAME,NAME", help="only these scenes")
    p.add_argument("--probe", default=None, metavar="CAM:X,Y",
                   help="click a pixel for the bin plot, e.g. F:320,180 (screenshots probe F's centre)")
    p.add_argument("--pair", type=int, default=None, help="highlight the N-th adjacent camera pair")
    p.add_argument("--student", default=None, help="student model name or checkpoint")
    p.add_argument("--teacher", default=None, help="teacher model name or checkpoint")
    p.add_argument("--screenshot", default=None, metavar="FILE.png",
                   help="render everything, save a screenshot and exit")
    p.add_argument("--size", default="1600x1000", help="window size WxH (default 1600x1000)")
    return p


def parse_probe(text: str):
    cam, _, xy = text.partition(":")
    shorts = [SHORT_NAMES[n] for n in CAMERA_NAMES]
    if cam not in shorts:
        raise FsmdeError(f"--probe {text}: the camera must be one of {', '.join(shorts)}")
    try:
        x, y = (int(v) for v in xy.split(","))
    except ValueError:
        raise FsmdeError(f"--probe {text}: expected CAM:X,Y, e.g. F:320,180") from None
    return shorts.index(cam), x, y


def grab_window(window):
    """Screenshot of the whole window, GL view included (pasted from its framebuffer)."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QPainter

    pix = window.grab()
    container = window.cloud.container
    if container.isVisible():
        fb = window.cloud.view.grabFramebuffer()
        pos = container.mapTo(window, QPoint(0, 0))
        p = QPainter(pix)
        p.drawImage(pos, fb.scaled(container.width(), container.height()) if fb.width() != container.width() else fb)
        p.end()
    return pix


class ScreenshotError(FsmdeError):
    """The screenshot cannot be written (names the file and the problem)."""


def save_png(pix, path: Path) -> None:
    """Atomic PNG save: encoded in memory by Qt, then a checked, fsync'ed temp file beside the
    real target and a rename (``core.atomic_io``): a full disk leaves nothing under ``path``."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    path = Path(path)
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.WriteOnly)
    ok = pix.save(buf, "PNG")
    buf.close()
    if not ok or data.isEmpty():
        raise ScreenshotError(f"{path}: Qt could not encode the screenshot as PNG")
    try:
        atomic_write_bytes(path, bytes(data))
    except OSError as exc:
        raise ScreenshotError(f"{exc.filename or path}: cannot write the screenshot: "
                              f"{exc.strerror or exc}") from exc


def parse_window_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise FsmdeError(f"--size {text!r}: expected WxH, e.g. 1600x1000") from None
    if not (320 <= w <= 8192 and 240 <= h <= 8192):
        raise FsmdeError(f"--size {text}: width must be 320..8192 and height 240..8192 pixels")
    return w, h


def check_screenshot_target(path: Path) -> None:
    """Fail before any work when the screenshot cannot be a file at ``path``."""
    if path.is_dir():
        raise FsmdeError(f"{path}: is a folder, expected a .png file name for --screenshot")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise FsmdeError(f"{parent}: is not a folder, cannot write the screenshot {path}")


def check_frame_options(session, scene: int, frame: int) -> None:
    """``--scene`` / ``--frame`` inside the opened dataset, or an error naming the valid range."""
    scenes = session.scenes
    if not 0 <= scene < len(scenes):
        raise FsmdeError(f"--scene {scene}: out of range, the dataset has scenes 0..{len(scenes) - 1}")
    n = session.num_frames(scene)
    if n == 0:
        raise FsmdeError(f"--scene {scene}: scene {scenes[scene].name} has no frames")
    if not 0 <= frame < n:
        raise FsmdeError(f"--frame {frame}: out of range, scene {scene} ({scenes[scene].name}) "
                         f"has frames 0..{n - 1}")


def clamped_position(session, scene: int, frame: int) -> tuple[int, int]:
    """The nearest (scene, frame) that exists (where the interactive app opens after a bad
    ``--scene`` / ``--frame``)."""
    scene = min(max(scene, 0), len(session.scenes) - 1)
    if session.num_frames(scene) == 0:
        scene = session.dataset.first_scene_with_frames()
    return scene, min(max(frame, 0), max(session.num_frames(scene) - 1, 0))


def _error_line(exc: BaseException) -> str:
    """One line for the user: project errors and OSErrors as they are, others with a hint."""
    if isinstance(exc, FsmdeError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    else:
        text = (f"unexpected {type(exc).__name__}: {exc} (re-run with FSMDE_DEBUG=1 for the "
                "traceback)")
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Start the app. Every error the user can act on ends it with one line on stderr and
    exit 2; in --screenshot mode no dialog is ever shown, so nothing can wait for a click."""
    parser = build_parser()
    parser.error = lambda message: parser.exit(2, f"fsmde-gui: error: {message}\n")  # one line
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("fsmde-gui: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place the app turns an error into its exit line
        if os.environ.get("FSMDE_DEBUG"):
            traceback.print_exc()
        print(f"fsmde-gui: error: {_error_line(exc)}", file=sys.stderr)
        return 2


def _run(args) -> int:
    window_wh = parse_window_size(args.size)
    probe = parse_probe(args.probe) if args.probe else None
    out = Path(args.screenshot) if args.screenshot else None
    if out is not None:
        check_screenshot_target(out)
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    try:
        import torch

        torch.set_num_threads(int(os.environ.get("FSMDE_NUM_THREADS", "2")))
    except ImportError:
        pass
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("FSMDE Studio")
    app.setOrganizationName("FSMDE")
    apply_dark_theme(app)
    tmpdir = None
    if out is not None and not os.environ.get("FSMDE_SETTINGS_FILE"):
        tmpdir = tempfile.TemporaryDirectory()  # a screenshot never reads or writes the user's state
        settings = QSettings(str(Path(tmpdir.name) / "settings.ini"), QSettings.IniFormat)
    else:
        settings = app_settings()
    try:
        return _run_window(args, app, settings, window_wh, probe, out)
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()


def _run_window(args, app, settings, window_wh, probe, out) -> int:
    session, dataset, open_error, start_error = _open_session(args, settings, out)
    window = _make_window(args, session, settings, window_wh, out)
    window.show()
    if open_error is not None:
        print(f"fsmde-gui: error: {_error_line(open_error)}", file=sys.stderr)
        window.show_error(f"Cannot open {dataset}", open_error)
        app.exec()
        return 2
    if start_error is not None:  # a bad --scene/--frame/model: the dialog, then the data
        print(f"fsmde-gui: error: {_error_line(start_error)}", file=sys.stderr)
        window.show_error("Cannot start as asked", start_error)
        window.show_dataset(dataset, *clamped_position(session, args.scene, args.frame))
        app.exec()
        return 2
    window.show_dataset(dataset, args.scene, args.frame)
    if out is None:
        return app.exec()
    return _run_screenshot(args, app, window, probe, out)


def _open_session(args, settings, out):
    """The session on the asked dataset (data first: a bad folder or --frame fails before
    the models load) and its models; errors raised headless, returned for the dialog."""
    dataset = args.dataset
    if dataset is None:
        recent = recent_folders(settings)
        dataset = str(SAMPLE_SCENES) if (SAMPLE_SCENES.exists() or not recent) else recent[0]
    # the data first (fast), so a bad folder or --frame fails before the models load
    session = Session(load_models=False)
    open_error = None
    try:
        session.open(dataset, version=args.version, scenes=parse_scene_list(args.scenes))
    except Exception as exc:  # DatasetError and anything an adapter raises
        if out is not None:
            raise
        open_error = exc  # interactive: the window shows it and stays up
    if args.scene is None:  # the first scene that has frames (a DGP folder may list empty ones)
        args.scene = session.dataset.first_scene_with_frames() if open_error is None else 0
    start_error = None  # interactive: shown in a dialog, the window stays up
    if open_error is None:
        try:
            check_frame_options(session, args.scene, args.frame)
        except FsmdeError as exc:
            if out is not None:
                raise
            start_error = exc
    for slot, given, default in (("student", args.student, DEFAULT_STUDENT),
                                 ("teacher", args.teacher, DEFAULT_TEACHER)):
        if not session.set_model(slot, given or default) and given and start_error is None:
            # a model the user named must load (a missing default is only a note)
            start_error = FsmdeError(f"--{slot} {given}: {session.notes[slot]}")
            if out is not None:
                raise start_error
    return session, dataset, open_error, start_error


def _make_window(args, session, settings, window_wh, out):
    """The main window (``window_wh``: (W, H)) with the display options of the command line."""
    window = MainWindow(session, settings, headless=out is not None)
    window.resize(*window_wh)
    if args.mode:
        window.set_mode(args.mode)
    if args.split:
        window.split_box.setChecked(True)
    if args.heat:
        window.heat_box.setChecked(True)
    if args.boxes:
        window.boxes_box.setChecked(True)
    if args.view3d:
        window.cloud.set_preset(args.view3d)
    return window


def _run_screenshot(args, app, window, probe, out) -> int:
    """Headless: wait for the frame, probe a pixel, save the PNG, quit; never hang."""
    from PySide6.QtCore import QTimer

    t0 = time.perf_counter()
    status = {"rc": 0}

    def end(rc: int, line: str | None = None) -> None:
        """Stop the screenshot run: one line on stderr for an error, then quit."""
        if status.get("ended"):
            return
        status["ended"] = True
        if rc:
            status["rc"] = rc
        if line:
            print(f"fsmde-gui: error: {' '.join(line.split())}", file=sys.stderr, flush=True)
        window.close()
        app.quit()
        QTimer.singleShot(0, app.quit)  # in case the event loop has not started yet

    def finish():
        if status.get("done"):
            return
        status["done"] = True
        try:
            if window.analysis is not None:
                if window.mode == "reflection" and window.analysis.reflection_pending:
                    window.session.reflection(window.analysis)  # a screenshot waits for the mask
                    window.redraw_tiles()
                if probe is not None:
                    window.select_pixel(*probe)
                else:
                    h0, w0 = window.analysis.hw
                    window.select_pixel(1, w0 // 2, int(h0 * 0.62))
                if args.pair is not None and window.consistency.pairs:
                    window.consistency.select_pair(args.pair % len(window.consistency.pairs))
            for _ in range(5):
                app.processEvents()
                time.sleep(0.05)
            if status.get("ended"):
                return
            save_png(grab_window(window), out)
        except Exception as exc:  # a slot must not swallow it: the run would never end
            end(2, _error_line(exc))
            return
        print(f"wrote {out} ({time.perf_counter() - t0:.1f} s)")
        end(status["rc"])

    # an error dialog would wait for a click that never comes: any error ends the run
    window.error_shown.connect(lambda text: end(2, text))
    previous_hook = sys.excepthook

    def excepthook(kind, value, tb):  # an exception in any Qt slot: end, don't hang
        if os.environ.get("FSMDE_DEBUG"):
            previous_hook(kind, value, tb)
        end(2, _error_line(value))

    sys.excepthook = excepthook
    window.frame_displayed.connect(lambda *_: QTimer.singleShot(300, finish))
    if window.analysis is not None:
        QTimer.singleShot(300, finish)

    def give_up():
        if status.get("ended"):
            return
        print(f"fsmde-gui: error: no frame drawn within {SCREENSHOT_TIMEOUT_S} s", file=sys.stderr)
        status["rc"] = 3
        finish()
        end(3)

    QTimer.singleShot(SCREENSHOT_TIMEOUT_S * 1000, give_up)
    try:
        app.exec()
    finally:
        sys.excepthook = previous_hook
    return status["rc"]


if __name__ == "__main__":
    sys.exit(main())
