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
from pathlib import Path

from ..app_model.tiles import MODES
from ..commands.dataset_args import parse_scene_list
from .cloud_view import PRESETS

SCREENSHOT_TIMEOUT_S = 600


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fsmde-gui", description="FSMDE Studio desktop app",
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--dataset", default=None, help="dataset folder (default: resources/sample_scenes)")
    p.add_argument("--scene", type=int, default=0, help="scene index (default 0)")
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
    from ..core.types import CAMERA_NAMES, SHORT_NAMES

    cam, _, xy = text.partition(":")
    shorts = [SHORT_NAMES[n] for n in CAMERA_NAMES]
    if cam not in shorts:
        raise SystemExit(f"fsmde-gui: --probe camera must be one of {shorts}")
    x, y = (int(v) for v in xy.split(","))
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


def save_png(pix, path: Path) -> None:
    """Atomic PNG save (temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        if not pix.save(tmp, "PNG"):
            raise OSError(f"{path}: could not write the screenshot")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    try:
        import torch

        torch.set_num_threads(int(os.environ.get("FSMDE_NUM_THREADS", "2")))
    except ImportError:
        pass
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from ..app_model.session import SAMPLE_SCENES, Session
    from .main_window import MainWindow
    from .settings import app_settings, recent_folders
    from .theme import apply_dark_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("FSMDE Studio")
    app.setOrganizationName("FSMDE")
    apply_dark_theme(app)
    tmpdir = None
    if args.screenshot and not os.environ.get("FSMDE_SETTINGS_FILE"):
        tmpdir = tempfile.TemporaryDirectory()  # a screenshot never reads or writes the user's state
        settings = QSettings(str(Path(tmpdir.name) / "settings.ini"), QSettings.IniFormat)
    else:
        settings = app_settings()
    session = Session(student=args.student, teacher=args.teacher)
    window = MainWindow(session, settings)
    w, h = (int(v) for v in args.size.lower().split("x"))
    window.resize(w, h)
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
    window.show()
    dataset = args.dataset
    if dataset is None:
        recent = recent_folders(settings)
        dataset = str(SAMPLE_SCENES) if (SAMPLE_SCENES.exists() or not recent) else recent[0]
    status = {"rc": 0}
    opened = window.open_folder(dataset, args.scene, args.frame, version=args.version,
                                scenes=parse_scene_list(args.scenes))
    if not opened:
        print(f"fsmde-gui: error: {window.last_error}", file=sys.stderr)
        status["rc"] = 2
    if not args.screenshot:
        return app.exec()

    out = Path(args.screenshot)
    t0 = time.perf_counter()

    def finish():
        if status.get("done"):
            return
        status["done"] = True
        if window.analysis is not None:
            if window.mode == "reflection" and window.analysis.reflection_pending:
                window.session.reflection(window.analysis)  # a screenshot waits for the mask
                window.redraw_tiles()
            if args.probe:
                window._clicked(*parse_probe(args.probe))
            else:
                h0, w0 = window.analysis.hw
                window._clicked(1, w0 // 2, int(h0 * 0.62))
            if args.pair is not None and window.consistency.pairs:
                window.consistency.select_pair(args.pair % len(window.consistency.pairs))
        for _ in range(5):
            app.processEvents()
            time.sleep(0.05)
        save_png(grab_window(window), out)
        print(f"wrote {out} ({time.perf_counter() - t0:.1f} s)")
        window.close()
        app.quit()

    if opened:
        window.frame_displayed.connect(lambda *_: QTimer.singleShot(300, finish))
        if window.analysis is not None:
            QTimer.singleShot(300, finish)
    else:
        QTimer.singleShot(300, finish)

    def give_up():
        print(f"fsmde-gui: error: no frame drawn within {SCREENSHOT_TIMEOUT_S} s", file=sys.stderr)
        status["rc"] = 3
        finish()

    QTimer.singleShot(SCREENSHOT_TIMEOUT_S * 1000, give_up)
    app.exec()
    if tmpdir is not None:
        tmpdir.cleanup()
    return status["rc"]


if __name__ == "__main__":
    sys.exit(main())
