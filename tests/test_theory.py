"""ganzoo theory optimal-d: D* and JSD computed right, and a trained D that reaches D*."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ganzoo.run import theory
from ganzoo.run.theory import CASES, Case, Gaussians, jsd, optimal_d, value


def test_d_star_is_the_density_ratio_and_its_value_is_minus_log4_plus_2_jsd():
    case = CASES["1d"]
    x = torch.tensor([[-2.0], [0.0], [1.5], [4.0]], dtype=torch.float64)
    p, q = case.data.log_prob(x).exp(), case.generator.log_prob(x).exp()
    assert torch.allclose(optimal_d(case, x), p / (p + q))
    # Monte Carlo V(D*, G) against the grid-integrated JSD: two independent routes to Theorem 1
    for case in CASES.values():
        assert value(case, lambda x: optimal_d(case, x)) == pytest.approx(-math.log(4) + 2 * jsd(case), abs=0.01)


def test_jsd_is_zero_for_equal_densities_and_log2_for_disjoint_ones():
    same = Case("same", Gaussians(((0.0,),), 1.0), Gaussians(((0.0,),), 1.0), 8.0, 4001)
    apart = Case("apart", Gaussians(((-20.0,),), 0.5), Gaussians(((20.0,),), 0.5), 30.0, 60001)
    assert jsd(same) == pytest.approx(0.0, abs=1e-6)
    assert jsd(apart) == pytest.approx(math.log(2), abs=1e-4)
    assert value(same, lambda x: optimal_d(same, x)) == pytest.approx(-math.log(4), abs=0.01)  # D* = 1/2 everywhere


def test_bad_cases_steps_and_a_used_out_folder_are_one_line_errors(cli, tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    new = str(tmp_path / "new")
    for args, needle in [
        (["--case", "3d", "--out", new], "valid: 1d, 2d"),
        (["--steps", "0", "--out", new], "must be >= 1"),
        (["--out", str(tmp_path / "used")], "choose another --out"),
    ]:
        code, out, err = cli("theory", "optimal-d", *args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, (args, err)
    assert (tmp_path / "used" / "keep.txt").read_text() == "mine" and not (tmp_path / "new").exists()


@pytest.mark.slow
def test_a_discriminator_trained_alone_reaches_the_optimal_one_in_1d(cli, tmp_path):
    code, out, err = cli("theory", "optimal-d", "--case", "1d", "--steps", "800", "--out", str(tmp_path / "t"), "--quiet")
    assert code == 0, err
    report = json.loads((tmp_path / "t" / "1d" / "optimal-d.json").read_text())
    assert report["mean_abs_gap"] < 0.05, report
    # no D beats D*: the trained one's V is below the maximum, and close to it
    assert report["value_of_d"] <= report["theory_value"] + 0.005 and report["theory_value"] - report["value_of_d"] < 0.02
    assert (tmp_path / "t" / "1d" / "optimal-d.png").stat().st_size > 10_000
    assert "1d" in out and "-log4+2JSD" in out
