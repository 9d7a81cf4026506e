"""The app's model layer, pure Python (no Qt): what the desktop app and `fsmde export` show.

``session.Session`` opens a dataset, loads the student/teacher estimators and caches one
``analysis.FrameAnalysis`` per frame (depths, metrics, consistency, fused clouds). ``tiles``
turns an analysis into the per-camera images of each display mode. The Qt widgets in
``fsmde_gui.app`` only draw these objects and dispatch user actions.
"""
