"""Seconds per 10,000 generated MNIST samples for each evaluation metric, and against torch-fidelity.

Each metric runs on its own fresh context, so its time includes extracting the features
of the 10,000 generated images (the real features come from the cache, as in any second
evaluation of a dataset). The torch-fidelity column calls ``torch_fidelity.calculate_metrics``
directly on the same uint8 images with the same extractor (``ganzoo-lenet-mnist``), cache
off, no worker processes, one metric per call; ratio = ganzoo / torch-fidelity (below 1:
ganzoo is faster). Density/coverage and class counts have no torch-fidelity counterpart.
The last lines time a whole ``ganzoo eval`` of a run folder (sampling, real data, all metrics).

The generator is the vanilla model at initialisation: throughput does not depend on training.

    OMP_NUM_THREADS=1 python benchmarks/eval_throughput.py [--n 10000] [--threads 1] [--repeats 2]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time

import torch


def _best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2, help="best of this many timings per metric")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GANZOO_CACHE"] = os.path.join(tmp, "cache")
        import ganzoo
        import torch_fidelity
        from ganzoo import plugins
        from ganzoo.eval.context import EvalContext
        from ganzoo.eval.evaluate import draw_samples, evaluate, real_split
        from ganzoo.eval.extractor import UInt8Images
        from ganzoo.eval.featurenet import lenet_net
        from ganzoo.eval.lenet import NAME
        from ganzoo.eval.quantise import to_uint8

        with contextlib.redirect_stderr(io.StringIO()):
            run = ganzoo.train("vanilla", "mnist", steps=1, out=os.path.join(tmp, "run"), progress=False)
        gan = ganzoo.load_run(run.path).gan
        options = {"size": 28, "root": "", "download": False}
        dataset = plugins.datasets().get("mnist").build(options)
        real, heldout, fields = real_split(dataset, options, args.n, args.n)
        t_sample = _best_of(args.repeats, lambda: draw_samples(gan, args.n, 0))
        fake = draw_samples(gan, args.n, 0)
        info = dataset.info

        def context() -> EvalContext:
            return EvalContext(info, fake, real, heldout, 0, torch.device("cpu"), fields)

        for which in ("real", "heldout"):  # fill the cache, as a first evaluation of the dataset would
            context().features(lenet_net(), which)

        fake_u8, real_u8 = UInt8Images(to_uint8(fake)), UInt8Images(to_uint8(real))
        common = dict(input1=fake_u8, input2=real_u8, feature_extractor=NAME, cuda=False, cache=False, save_cpu_ram=True, verbose=False, prc_batch_size=2000)
        direct = {
            "fid": dict(fid=True),
            "is": dict(isc=True),
            "kid": dict(kid=True),
            "precision-recall": dict(prc=True),
        }
        print(f"N generated {args.n}, N real {len(real)}, threads {args.threads}, best of {args.repeats}")
        print(f"{'metric':<18} {'ganzoo s/10k':>13} {'torch-fidelity s/10k':>21} {'ratio':>7}")
        scale = 10_000 / args.n
        for name in ("fid", "is", "kid", "precision-recall", "density-coverage", "classes"):
            spec = plugins.metrics().get(name)
            ours = _best_of(args.repeats, lambda: spec.compute(context())) * scale
            if name in direct:
                theirs = _best_of(args.repeats, lambda: torch_fidelity.calculate_metrics(**common, **direct[name])) * scale
                print(f"{name:<18} {ours:>13.2f} {theirs:>21.2f} {ours / theirs:>7.2f}")
            else:
                print(f"{name:<18} {ours:>13.2f} {'-':>21} {'-':>7}")
        all_metrics = ["fid", "is", "kid", "precision-recall", "density-coverage", "classes"]
        ours_all = _best_of(args.repeats, lambda: [plugins.metrics().get(m).compute(c) for c in [context()] for m in all_metrics]) * scale
        theirs_all = _best_of(args.repeats, lambda: torch_fidelity.calculate_metrics(**common, fid=True, isc=True, kid=True, prc=True)) * scale
        print(f"{'all six (shared)':<18} {ours_all:>13.2f} {theirs_all:>21.2f} {ours_all / theirs_all:>7.2f}   (torch-fidelity: fid+isc+kid+prc in one call)")
        print(f"sampling {args.n} images: {t_sample:.2f} s")
        t_eval = _best_of(1, lambda: evaluate(run.path, n=args.n, write=False))
        print(f"ganzoo eval of a run folder, N={args.n}, all MNIST metrics (warm cache): {t_eval:.1f} s")


if __name__ == "__main__":
    main()
