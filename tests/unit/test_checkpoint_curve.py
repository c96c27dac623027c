"""bench/checkpoint_curve.py: the fit it extrapolates with, the checkpoint it reads, and that an
extrapolation is never printed as a measurement."""

from __future__ import annotations

import json
import pathlib

import pytest

from bench.bench_scale import Project
from bench.checkpoint_curve import STATE_KEY, Curve, describe, fit, saved_resources


def test_the_fit_recovers_a_start_a_linear_and_a_quadratic_cost() -> None:
    t0, a, c = 14.0, 0.012, 3.5e-6
    samples = [(t0 + a * k + c * k * k, k, 0.0) for k in range(100, 3001, 100)]
    got = fit(samples)
    assert got["t0_s"] == pytest.approx(t0, rel=1e-6)
    assert got["a_s_per_step"] == pytest.approx(a, rel=1e-6)
    assert got["c_s_per_step2"] == pytest.approx(c, rel=1e-6)


def test_the_fit_needs_four_saved_points() -> None:
    assert fit([(1.0, 0, 0.0), (2.0, 10, 0.0), (3.0, 20, 0.0), (4.0, 30, 0.0)]) == {}


def test_saved_resources_reads_the_file_backends_checkpoint(tmp_path: pathlib.Path) -> None:
    project = Project(tmp_path, {})
    assert saved_resources(project, None) == 0  # before the first save
    state = tmp_path / ".backend" / STATE_KEY
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"version": 3, "checkpoint": {"latest": {"resources": [{"urn": "a"}, {"urn": "b"}]}}}))
    assert saved_resources(project, None) == 2
    state.write_text("{truncated")  # read while the CLI rewrites it
    assert saved_resources(project, None) == 0


def test_a_stopped_run_says_which_figure_is_measured_and_which_extrapolated() -> None:
    samples = [(5 + 0.01 * k + 2e-5 * k * k, k, 0.0) for k in (500, 1000, 1500, 2000)]
    stopped = Curve("file", 1000, True, total_resources=7007, completed=False, seconds=120.0, samples=samples,
                    fit=fit(samples))
    text = describe(stopped)
    assert "with 2000 of 7007 resources saved (measured)" in text
    minutes = (5 + 0.01 * 7007 + 2e-5 * 7007 ** 2) / 60
    assert f"~{minutes:.0f} min (extrapolated)" in text
    done = Curve("s3", 300, True, total_resources=2107, completed=True, seconds=600.0, cli_cpu_s=300.0)
    assert describe(done).endswith("2107 resources in 600.0 s, CLI CPU 300.0 s (measured)")
