"""Evaluation: depth metrics against LiDAR / dense GT, bins, consistency, per-class errors
over a dataset (``evaluate.evaluate_dataset``), used by ``fsmde eval``, the model zoo and
the benchmarks."""
