"""Does ganzoo's evaluation measure what it says? One run prints six checks.

1. Parity with the reference libraries on the same LeNet features: FID against pytorch-fid's
   formula, density/coverage and precision/recall against ``prdc`` (clovaai, Naeem et al.
   2020). KID and IS are torch-fidelity's own functions (see eval/fidelity.py), so there is
   nothing independent to compare them with here.
2. Held-out real data at the floor: every image metric with real digits as the "generator".
3. A one-class generator: only confident 1s cover 1 class with class KL = ln 10.
4. A noise ladder: Gaussian noise of rising std added to held-out digits; FID must rise
   strictly. Precision, recall and coverage are printed beside it: in a classifier's feature
   space precision measures "looks like some digit" more than pixel fidelity.
5. ring8 and grid25 with k modes removed: exactly 8 - k / 25 - k modes counted, and the
   reverse KL of a uniform histogram over the rest, ln(M / (M - k)).
6. N: held-out real digits scored at several N generated against the same 4,000 real, the
   figures behind the README's caveat that FID, coverage and friends move with N, with
   fid_inf (FID extrapolated to N = infinity) beside FID.

    python benchmarks/eval_validation.py            # the reference libraries are optional:
    pip install --no-deps prdc pytorch-fid          # without them check 1 says so and goes on

Exits 1 when a check that has a right answer (parity, the one-class KL, the strictly rising
ladder, the mode counts) fails; the floor and N ladder are figures, not checks.
"""

from __future__ import annotations

import math
import sys
import time

import torch

from ganzoo.eval import fidelity, modes, prdc
from ganzoo.eval.builtin import METRICS
from ganzoo.eval.context import EvalContext
from ganzoo.eval.evaluate import real_split, run_metrics
from ganzoo.eval.featurenet import lenet_net
from ganzoo.run.build import build_dataset
from ganzoo.run.config import make_run_config

failures: list[str] = []


def check(ok: bool, what: str) -> str:
    if not ok:
        failures.append(what)
    return "ok" if ok else "FAIL"


def features(info, images: torch.Tensor) -> dict[str, torch.Tensor]:
    ctx = EvalContext(info, images, use_cache=False)
    return ctx.features(lenet_net(), "fake")


def image_metrics(info, fake, real, heldout=None) -> dict[str, float]:
    ctx = EvalContext(info, fake, real, heldout, seed=0, use_cache=False)
    results = run_metrics(ctx, [s for s in METRICS if s.reason_not_applicable(info) is None]).results
    return {k: v for values in results.values() for k, v in values.items()}


def main() -> int:
    start = time.perf_counter()
    mnist = build_dataset(make_run_config("vanilla", "mnist"))
    info = mnist.info
    real, heldout, _ = real_split(mnist, {}, 4000, 1000)
    print(f"bundled MNIST: {len(mnist)} digits; reference (train part) {len(real)}, held out {len(heldout)}")
    real_f, held_f = features(info, real)["features"].double(), features(info, heldout)["features"].double()

    # -- 1. parity ------------------------------------------------------------------------
    print("\n1. parity with reference libraries on shared LeNet features (held-out vs reference)")
    ours_fid = fidelity.fid(held_f, real_f)
    try:
        from pytorch_fid.fid_score import calculate_frechet_distance

        ref = calculate_frechet_distance(held_f.mean(0).numpy(), torch.cov(held_f.T).numpy(), real_f.mean(0).numpy(), torch.cov(real_f.T).numpy())
        rel = abs(ours_fid - ref) / ref
        print(f"   FID       ours {ours_fid:.10g}  pytorch-fid {ref:.10g}  relative difference {rel:.1e}  {check(rel < 1e-6, 'FID parity')}")
    except ImportError:
        print("   FID       pytorch-fid not installed (pip install --no-deps pytorch-fid): skipped")
    try:
        import prdc as prdc_ref

        # Ties included: 200 fakes copy reference points exactly (memorised images).
        fake_f = torch.cat([held_f, real_f[:200]])
        ref = prdc_ref.compute_prdc(real_features=real_f.numpy(), fake_features=fake_f.numpy(), nearest_k=prdc.DC_K)
        ours = prdc.density_coverage(fake_f, real_f)
        for name in ("density", "coverage"):
            diff = abs(ours[name] - ref[name])
            print(f"   {name:<9} ours {ours[name]:.10g}  prdc {ref[name]:.10g}  difference {diff:.1e}  {check(diff < 1e-9, name + ' parity')}")
        ref3 = prdc_ref.compute_prdc(real_features=real_f.numpy(), fake_features=held_f.numpy(), nearest_k=prdc.PR_K)
        ours_pr = prdc.precision_recall(held_f, real_f)
        for name in ("precision", "recall"):
            diff = abs(ours_pr[name] - ref3[name])
            # prdc counts ball membership with <, Kynkaanniemi et al. (and torch-fidelity) with <=;
            # on features without ties the two agree.
            print(f"   {name:<9} ours {ours_pr[name]:.10g}  prdc {ref3[name]:.10g}  difference {diff:.1e}  {check(diff < 1e-9, name + ' parity')}")
    except ImportError:
        print("   P/R/D/C   prdc not installed (pip install --no-deps prdc): skipped")

    # -- 2. the floor ---------------------------------------------------------------------
    print("\n2. held-out real data scored as a generator (N = 1,000 vs 4,000 reference): the floor")
    floor = image_metrics(info, heldout, real)
    shown = ("fid", "fid_inf", "kid", "is", "precision", "recall", "density", "coverage", "classes", "class_kl", "confident")
    print("   " + ", ".join(f"{k} {floor[k]:.4g}" for k in shown if floor.get(k) is not None))

    # -- 3. one class ----------------------------------------------------------------------
    print("\n3. a one-class generator: held-out and reference 1s only")
    logits = features(info, torch.cat([heldout, real]))["logits"]
    pred, confident = modes.confident_classes(logits)
    ones = torch.cat([heldout, real])[(pred == 1) & confident]
    cov = modes.class_coverage(features(info, ones)["logits"])
    print(f"   {len(ones)} confident 1s: classes {cov['classes']}, class_kl {cov['class_kl']:.6f} (ln 10 = {math.log(10):.6f})  "
          f"{check(cov['classes'] == 1 and abs(cov['class_kl'] - math.log(10)) < 1e-9, 'one-class KL')}")

    # -- 4. noise ladder ---------------------------------------------------------------------
    print("\n4. noise ladder: held-out digits + Gaussian noise (std in the model range [-1, 1])")
    g = torch.Generator().manual_seed(0)
    ladder = []
    for std in (0.0, 0.1, 0.2, 0.4, 0.8):
        noisy = (heldout + std * torch.randn(heldout.shape, generator=g)).clamp(-1, 1)
        m = image_metrics(info, noisy, real)
        ladder.append(m["fid"])
        print(f"   std {std:<4} FID {m['fid']:8.2f}  precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
              f"density {m['density']:.3f}  coverage {m['coverage']:.3f}  classes {m['classes']}")
    rising = all(a < b for a, b in zip(ladder, ladder[1:]))
    print(f"   FID strictly rising: {check(rising, 'noise ladder')}")

    # -- 5. mixtures with modes removed -------------------------------------------------------
    print("\n5. 2-D mixtures with k modes removed (2,500 samples each)")
    for name in ("ring8", "grid25"):
        data = build_dataset(make_run_config("vanilla", name))
        centres = torch.tensor(data.info.centres, dtype=torch.float64)
        total = len(centres)
        for k in (0, 1, 3, total // 2):
            kept = data.x[data.labels >= k]
            kept = kept[torch.randperm(len(kept), generator=torch.Generator().manual_seed(k))[:2500]]
            m = modes.mixture_modes(kept, centres, data.info.std)
            expected_kl = math.log(total / (total - k))
            ok = m["modes"] == total - k
            print(f"   {name} without {k:>2} modes: counted {m['modes']:>2} of {total} (expected {total - k}), hq {m['hq']:.3f}, "
                  f"reverse KL {m['reverse_kl']:.4f} (uniform over the rest: {expected_kl:.4f})  {check(ok, f'{name} -{k}')}")

    # -- 6. N ----------------------------------------------------------------------------------
    print("\n6. held-out real digits at several N generated (reference: 4,000 train-part digits)")
    # Random subsets: the split keeps dataset order, and the bundled digits are sorted by class.
    order = torch.randperm(len(heldout), generator=torch.Generator().manual_seed(1))
    for n in (250, 500, 1000):
        m = image_metrics(info, heldout[order[:n]], real)
        print(f"   N {n:>5}: FID {m['fid']:7.3f}  fid_inf {m['fid_inf'] if m['fid_inf'] is not None else float('nan'):7.3f}  "
              f"precision {m['precision']:.3f}  recall {m['recall']:.3f}  density {m['density']:.3f}  coverage {m['coverage']:.3f}")
    m = image_metrics(info, heldout, real[torch.randperm(len(real), generator=torch.Generator().manual_seed(2))[:1000]])
    print(f"   N  1000 vs 1,000 reference: FID {m['fid']:7.3f}  coverage {m['coverage']:.3f}  recall {m['recall']:.3f}")

    print(f"\n{len(failures)} check(s) failed{': ' + ', '.join(failures) if failures else ''}; {time.perf_counter() - start:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
