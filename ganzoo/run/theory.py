"""The tutorial's optimal discriminator, checked by training: ``ganzoo theory optimal-d``.

For a fixed generator the discriminator that maximises V(D, G) = E_data[log D(x)] +
E_g[log(1 - D(x))] is D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Goodfellow et al. 2014,
Proposition 1), and there V(D*, G) = -log 4 + 2 JSD(p_data || p_g) (Theorem 1). Here both
densities are known in closed form: p_data is a Gaussian mixture, and the generator is a
frozen affine map of Gaussian noise, so p_g is a Gaussian. The shared trainer trains D alone
(one phase, the minimax D loss) on samples of p_data; then D is compared with D* on a grid,
and V(D, G), estimated on fresh samples, with the theoretical maximum.

The gap is reported where the data or the generator has mass (the mixture (p_data + p_g) / 2
above 1% of its peak): where neither has any, D* is a ratio of two vanishing numbers and no
finite sample says anything about it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..config import RunConfig
from ..data import Dataset, DatasetInfo
from ..errors import GanzooError
from ..files import atomic_write, atomic_write_text
from ..losses import d_minimax_loss, g_nonsaturating_loss
from ..model import GAN, Phase
from ..nn import MLPDiscriminator
from ..objectives import AdversarialObjective
from ..training.trainer import Trainer
from .folder import RunFolder

MASS = 0.01  # the grid points scored: mixture density above this share of its peak
LOG4 = math.log(4.0)


@dataclass(frozen=True)
class Gaussians:
    """An equal-weight mixture of isotropic Gaussians with one ``std`` (one component: a Gaussian)."""

    means: tuple[tuple[float, ...], ...]
    std: float

    @property
    def dim(self) -> int:
        return len(self.means[0])

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        means = torch.tensor(self.means, dtype=x.dtype)
        sq = ((x[:, None, :] - means[None]) ** 2).sum(dim=2)
        log_normal = -sq / (2 * self.std**2) - self.dim * math.log(self.std * math.sqrt(2 * math.pi))
        return torch.logsumexp(log_normal, dim=1) - math.log(len(self.means))

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        which = torch.randint(len(self.means), (n,), generator=generator)
        return torch.tensor(self.means)[which] + self.std * torch.randn(n, self.dim, generator=generator)


@dataclass(frozen=True)
class Case:
    name: str
    data: Gaussians
    generator: Gaussians  # one component: what the frozen G draws
    extent: float  # the grid spans [-extent, extent] in every dimension
    points: int  # grid points per dimension


CASES = {
    "1d": Case("1d", Gaussians(((-2.0,), (1.5,)), 0.5), Gaussians(((0.0,),), 1.5), 6.0, 2001),
    "2d": Case("2d", Gaussians(((2.0, 0.0), (0.0, 2.0), (-2.0, 0.0), (0.0, -2.0)), 0.5), Gaussians(((0.0, 0.0),), 1.5), 6.0, 121),
}


class FrozenGaussian(nn.Module):
    """G(z) = mean + std * z: p_g is N(mean, std^2 I) exactly. Frozen parameters: nothing trains them."""

    def __init__(self, g: Gaussians) -> None:
        super().__init__()
        self.mean = nn.Parameter(torch.tensor(g.means[0]), requires_grad=False)
        self.std = nn.Parameter(torch.tensor(g.std), requires_grad=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.mean + self.std * z


class DiscriminatorOnly(AdversarialObjective):
    """The minimax game with G frozen: D's phase alone."""

    def __init__(self, G: nn.Module, D: nn.Module, latent_dim: int) -> None:
        super().__init__(G, D, latent_dim, d_minimax_loss, g_nonsaturating_loss)
        self.phases = (Phase("D", "D", "D"),)


def grid(case: Case) -> torch.Tensor:
    axis = torch.linspace(-case.extent, case.extent, case.points, dtype=torch.float64)
    if case.data.dim == 1:
        return axis[:, None]
    return torch.cartesian_prod(axis, axis)


def optimal_d(case: Case, x: torch.Tensor) -> torch.Tensor:
    """D*(x) = p_data / (p_data + p_g), computed from log densities (stable in the tails)."""
    return torch.sigmoid(case.data.log_prob(x) - case.generator.log_prob(x))


def jsd(case: Case) -> float:
    """JSD(p_data || p_g) in nats, integrated numerically on the grid (a Riemann sum; the grid holds all but a negligible tail)."""
    x = grid(case)
    cell = (2 * case.extent / (case.points - 1)) ** case.data.dim
    lp, lq = case.data.log_prob(x), case.generator.log_prob(x)
    lm = torch.logaddexp(lp, lq) - math.log(2)
    kl = lambda la: (la.exp() * (la - lm)).sum() * cell
    return float(0.5 * kl(lp) + 0.5 * kl(lq))


def value(case: Case, d: Callable[[torch.Tensor], torch.Tensor], n: int = 200_000, seed: int = 1) -> float:
    """V(D, G) = E_data[log D] + E_g[log(1 - D)], estimated on ``n`` fresh samples of each."""
    g = torch.Generator().manual_seed(seed)
    real, fake = case.data.sample(n, g).double(), case.generator.sample(n, g).double()
    eps = 1e-12
    return float(torch.log(d(real).clamp_min(eps)).mean() + torch.log((1 - d(fake)).clamp_min(eps)).mean())


def train_discriminator(case: Case, folder: RunFolder, steps: int, seed: int, progress: bool) -> nn.Module:
    """D trained by the shared trainer on 50,000 samples of p_data against the frozen generator."""
    torch.manual_seed(seed)
    info = DatasetInfo(f"theory-{case.name}", "vector", (case.data.dim,))
    dataset = Dataset(case.data.sample(50_000, torch.Generator().manual_seed(seed)), info)
    G, D = FrozenGaussian(case.generator), MLPDiscriminator((case.data.dim,), 64, 2)
    gan = GAN({"G": G, "D": D}, {"D": torch.optim.Adam(D.parameters(), lr=1e-3)}, DiscriminatorOnly(G, D, case.data.dim), latent_dim=case.data.dim)
    config = RunConfig(model="optimal-d", dataset=info.name, steps=steps, batch_size=256, seed=seed, device="cpu",
                       sample_every=steps + 1, checkpoint_every=steps, log_every=max(1, steps // 20))
    Trainer(gan, dataset, config, folder, torch.device("cpu"), progress=progress).fit()
    return D.eval()


def check(cases: list[str], steps: int, out: Path) -> None:
    """One-line errors for bad cases, steps, or an ``out`` that holds anything (nothing is overwritten)."""
    for case in cases:
        if case not in CASES:
            raise GanzooError(f"unknown case {case!r} (valid: {', '.join(CASES)})")
    if steps < 1:
        raise GanzooError(f"bad --steps {steps} (must be >= 1)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GanzooError(f"--out {out} already exists and is not an empty folder; choose another --out")


def run_case(name: str, out: Path, steps: int = 1500, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """Train D for case ``name`` into ``out/name``, score it against D*, draw the picture; the report as a dict."""
    case = CASES[name]
    folder = RunFolder(Path(out) / name, "--out")
    folder.create()
    D = train_discriminator(case, folder, steps, seed, progress)
    with torch.no_grad():
        d = lambda x: torch.sigmoid(D(x.float())).double()
        x = grid(case)
        mix = torch.logaddexp(case.data.log_prob(x), case.generator.log_prob(x))
        scored = mix >= mix.max() + math.log(MASS)
        gap = (d(x) - optimal_d(case, x)).abs()[scored]
        theory = -LOG4 + 2 * jsd(case)
        report = {
            "case": name, "steps": steps, "seed": seed,
            "mean_abs_gap": float(gap.mean()), "max_abs_gap": float(gap.max()),
            "grid_points_scored": int(scored.sum()), "scored_where": f"(p_data + p_g) / 2 >= {MASS} x its peak",
            "value_of_d": value(case, d), "value_of_d_star": value(case, lambda x: optimal_d(case, x)),
            "theory_value": theory, "jsd": jsd(case),
        }
        _draw(case, D, folder.path / "optimal-d.png")
    atomic_write_text(folder.path / "optimal-d.json", json.dumps(report, indent=1) + "\n")
    return report


def _draw(case: Case, D: nn.Module, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = grid(case)
    with torch.no_grad():
        trained = torch.sigmoid(D(x.float())).double()
    best = optimal_d(case, x)
    if case.data.dim == 1:
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        t = x[:, 0].numpy()
        ax.plot(t, case.data.log_prob(x).exp().numpy(), color="tab:green", alpha=0.5, label="p_data")
        ax.plot(t, case.generator.log_prob(x).exp().numpy(), color="tab:orange", alpha=0.5, label="p_g")
        ax.plot(t, best.numpy(), color="black", label="D* = p_data / (p_data + p_g)")
        ax.plot(t, trained.numpy(), color="tab:blue", linestyle="--", label="trained D")
        ax.set_xlabel("x")
        ax.legend(fontsize=8)
    else:
        n = case.points
        fig, axes = plt.subplots(1, 3, figsize=(12, 4), dpi=100)
        span = [-case.extent, case.extent, -case.extent, case.extent]
        for ax, values, title in zip(axes, (best, trained, (trained - best).abs()), ("D*", "trained D", "|D - D*|")):
            image = ax.imshow(values.reshape(n, n).T.numpy(), origin="lower", extent=span, vmin=0, vmax=1, cmap="viridis")
            ax.set_title(title)
        fig.colorbar(image, ax=axes, shrink=0.8)
    fig.suptitle(f"optimal discriminator, {case.name}")
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", bbox_inches="tight"))
    finally:
        plt.close(fig)
