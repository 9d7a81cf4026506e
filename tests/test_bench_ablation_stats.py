"""The ablation bench's statistics (benchmarks/bench_ablation.py): mean, std over seeds, gain
vs the first row and whether a gain counts (> 2 x the larger std), on synthetic runs."""
from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.bench_ablation import COLUMNS, format_rows, pct, summarise

LOWER = {key: lower for key, _, lower, _ in COLUMNS}


def make_runs(variant: str, per_seed: list[float], spread: list[float]) -> list[dict]:
    """Runs of one variant: every column = base value per seed (``per_seed``) moved by
    ``spread`` in the column's *better* direction (lower-is-better columns go down)."""
    runs = []
    for seed, (v, s) in enumerate(zip(per_seed, spread)):
        row = {"variant": variant, "seed": seed, "checkpoint": f"runs/{variant}_{seed}.pt"}
        for key, _, lower, _ in COLUMNS:
            row[key] = v - s if lower else v + s
        runs.append(row)
    return runs


@pytest.fixture()
def rows():
    runs = (make_runs("supervised", [0.30, 0.31, 0.32], [0, 0, 0])  # mean .31, std .01
            + make_runs("big", [0.30, 0.31, 0.32], [0.10, 0.10, 0.10])  # better by .10
            + make_runs("small", [0.28, 0.31, 0.34], [0.01, 0.01, 0.01])  # std .03, gain .01
            + make_runs("worse", [0.30, 0.31, 0.32], [-0.10, -0.10, -0.10])
            + [{"variant": "one", "seed": 0, **{k: 0.2 for k in LOWER}}])
    return summarise(runs, ["supervised", "big", "small", "worse", "one"])


def test_mean_std_and_seeds(rows):
    by = {r["variant"]: r for r in rows}
    assert [r["variant"] for r in rows] == ["supervised", "big", "small", "worse", "one"]
    assert by["supervised"]["seeds"] == [0, 1, 2]
    assert by["supervised"]["abs_rel"] == pytest.approx(0.31)
    assert by["supervised"]["abs_rel_std"] == pytest.approx(0.01)  # ddof=1
    assert by["small"]["abs_rel_std"] == pytest.approx(np.std([0.27, 0.30, 0.33], ddof=1))
    assert by["small"]["abs_rel_std"] == pytest.approx(0.03)
    assert by["big"]["abs_rel"] == pytest.approx(0.21)
    assert by["big"]["a1"] == pytest.approx(0.41)  # higher is better: moved up
    assert math.isnan(by["one"]["abs_rel_std"])  # one seed: no std
    assert by["one"]["abs_rel"] == pytest.approx(0.2)


def test_gain_percent_sign_follows_the_column_direction(rows):
    by = {r["variant"]: r for r in rows}
    for key, lower in LOWER.items():
        assert by["supervised"][key + "_gain_pct"] == 0.0
        assert math.copysign(1.0, by["supervised"][key + "_gain_pct"]) == 1.0  # no -0.0
        assert by["big"][key + "_gain_pct"] == pytest.approx(0.10 / 0.31 * 100)
        assert by["worse"][key + "_gain_pct"] == pytest.approx(-0.10 / 0.31 * 100)
    assert by["small"]["abs_rel_gain_pct"] == pytest.approx(0.01 / 0.31 * 100)
    assert pct(0.2, 0.25) == pytest.approx(20.0) and pct(0.3, 0.25, False) == pytest.approx(20.0)
    assert math.isnan(pct(1.0, 0.0))


def test_a_gain_counts_only_beyond_twice_the_larger_std(rows):
    by = {r["variant"]: r for r in rows}
    for key in LOWER:
        assert by["big"][key + "_counts"] is True  # 0.10 > 2 x 0.01
        assert by["small"][key + "_counts"] is False  # 0.01 < 2 x 0.03 (its own std)
        assert by["worse"][key + "_counts"] is False  # large, but the wrong way
        assert by["supervised"][key + "_counts"] is False
        assert by["one"][key + "_counts"] is False  # no std: nothing counts
    # the larger of the two stds decides: a noisy baseline hides a clean row's gain
    runs = (make_runs("supervised", [0.25, 0.31, 0.37], [0, 0, 0])  # std .06
            + make_runs("clean", [0.31, 0.31, 0.31], [0.10, 0.10, 0.10]))  # std 0, gain .10
    clean = summarise(runs, ["supervised", "clean"])[1]
    assert clean["abs_rel_std"] == pytest.approx(0.0, abs=1e-12)
    assert clean["abs_rel_counts"] is False  # 0.10 < 2 x 0.06
    runs = (make_runs("supervised", [0.29, 0.31, 0.33], [0, 0, 0])  # std .02
            + make_runs("clean", [0.31, 0.31, 0.31], [0.05, 0.05, 0.05]))
    assert summarise(runs, ["supervised", "clean"])[1]["abs_rel_counts"] is True  # .05 > .04


def test_format_rows_prints_mean_std_gain_and_star(rows):
    text = format_rows(rows)
    lines = text.splitlines()
    assert len(lines) == 2 + 2 * len(rows)
    header = lines[0]
    assert header.startswith("variant")
    for _, head, _, _ in COLUMNS:
        assert head in header
    assert set(lines[1]) == {"-"}
    big, big_gain = lines[4], lines[5]
    assert big.startswith("big") and "0.2100±0.0100" in big
    assert big_gain.startswith("  gain %")
    assert big_gain.count("*") == len(COLUMNS) and f"{0.10 / 0.31 * 100:+.1f}*" in big_gain
    small_gain = lines[7]
    assert "*" not in small_gain and f"{0.01 / 0.31 * 100:+.1f} " in small_gain
    assert "*" not in lines[9]  # worse
    one = lines[10]
    assert one.startswith("one") and "0.2000" in one and "±" not in one
