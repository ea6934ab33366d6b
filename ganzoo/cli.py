"""The ``ganzoo`` command. Every user error prints one line and exits with status 2."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from . import plugins
from .config import parse_set
from .errors import GanzooError, ReportedElsewhere, first_line
from .remedy_options import REMEDY_SCHEMA
from .scaffold import KINDS, NEXT_STEPS, new_plugin

EXIT_USAGE = 2
EXIT_LOST_CONTACT = 3  # a rank whose peers went away: not the cause, so the launcher names another
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + error
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _one_line_warnings(message, category, filename, lineno, file=None, line=None):
    print(f"ganzoo: warning: {message}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ganzoo", description="Train, sample and compare GANs. Models and datasets come from plugins.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    run = sub.add_parser("run", help="train a model (or --resume a run)", description="Train a model into a new run folder, or continue one with --resume.")
    run.add_argument("--model", help="model name (see `ganzoo models`)")
    run.add_argument("--dataset", help="dataset name (default: mnist; see `ganzoo datasets`)")
    run.add_argument("--steps", type=int, help="generator steps (default: the model's preset for the data)")
    run.add_argument("--batch-size", type=int, help="real samples per batch")
    run.add_argument("--seed", type=int, help="seed for weights, latents and data order (default 0)")
    run.add_argument("--device", help="auto (default; CUDA when present), cpu, cuda or cuda:N")
    run.add_argument("--out", help="run folder (default runs/MODEL-DATASET-TIMESTAMP); must not exist yet")
    run.add_argument("--config", metavar="FILE.yaml", help="options from a YAML file shaped like a run's config.yaml")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=f"model option, including the collapse remedies every model with a discriminator has ({', '.join(REMEDY_SCHEMA)}: ganzoo models NAME); repeatable; data.KEY=VALUE sets a dataset option")
    run.add_argument("--data-root", help="the dataset's folder: mnist's full IDX files (default: the 5,000 bundled images), cifar10/fashion-mnist in torchvision's layout, image-folder's images")
    run.add_argument("--download", action="store_true", help="download MNIST into --data-root with torchvision (needs internet)")
    run.add_argument("--sample-every", type=int, help="steps between sample pictures")
    run.add_argument("--checkpoint-every", type=int, help="steps between checkpoints")
    run.add_argument("--log-every", type=int, help="steps between metrics.jsonl lines")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its last checkpoint (--steps may raise its target)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--eval-every", type=int, metavar="K", help="every K steps, log cheap metrics (FID at small N, modes/classes covered, KL), plot eval.png, keep checkpoints/best.pt")
    run.add_argument("--eval-n", type=int, help="samples per live evaluation (default 1000 images, 2500 points)")
    run.add_argument("--best-metric", metavar="NAME", help="live number that picks checkpoints/best.pt (default: the live metrics' first-ranked number, such as fid)")
    run.add_argument("--wandb", default="off", metavar="MODE", help="also log to Weights & Biases: online, offline (sync later with `wandb sync`) or off (default)")
    run.add_argument("--precision", help="32 (default; fp32, bit for bit reproducible), bf16 (bfloat16 autocast, CPU or CUDA) or 16-mixed (fp16 autocast with a gradient scaler per optimizer, CUDA only)")
    run.add_argument("--compile", nargs="?", const="inductor", metavar="BACKEND", help="torch.compile every network (BACKEND: inductor, the default; aot_eager or eager to check tracing; none to turn it off on --resume)")
    layout = run.add_mutually_exclusive_group()
    layout.add_argument("--channels-last", action="store_const", const="channels_last", dest="memory_format",
                        help="short for --memory-format channels_last")
    layout.add_argument("--memory-format", metavar="FORMAT", dest="memory_format",
                        help="layout of conv weights and activations: channels_last (NHWC; conv steps 1.03-1.3x faster on this project's CPU, "
                        "benchmarks/roofline.md) or contiguous (NCHW); default: the model's preset for the kind of data, else contiguous")
    run.add_argument("--on-nan", default="stop", metavar="WHAT", help="a non-finite loss: stop (default; exit 2, the last good checkpoint kept) or skip (leave that update out, count it in metrics.jsonl)")
    scale = run.add_argument_group("data-parallel training (torchrun's launcher; see the README's Scaling out)")
    scale.add_argument("--nproc-per-node", type=int, metavar="N", help="train one model with N processes on this machine (one per GPU, or gloo on CPU); --batch-size is per process")
    scale.add_argument("--nnodes", type=int, metavar="M", help="machines taking part (each runs the same command; needs --rdzv-endpoint)")
    scale.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="where the machines meet (a port on one of them)")
    scale.add_argument("--rdzv-id", metavar="ID", help="a name for the job, the same on every machine (default: from the run folder)")
    run.set_defaults(func=_cmd_run, parser=run)

    bench = sub.add_parser("bench", help="train and evaluate models x datasets x seeds on an equal budget; write the leaderboard",
                           description="Train every (model, dataset, seed) on the same budget of real images seen, evaluate each at one protocol, "
                           "store the numbers in BENCH_DIR/results.sqlite and write leaderboard.md/.csv/.html. Re-running skips finished entries and resumes unfinished ones.")
    bench.add_argument("--models", required=True, help="comma-separated model names, or all")
    bench.add_argument("--datasets", required=True, help="comma-separated dataset names, or all")
    bench.add_argument("--seeds", default="3", help="a count N (seeds 0..N-1, default 3) or a list such as 0,5,7")
    bench.add_argument("--kimg", type=float, required=True, help="budget per run: thousands of real images drawn by the trainer")
    bench.add_argument("--out", default="bench", metavar="BENCH_DIR", help="bench folder (default ./bench); re-use it to continue")
    bench.add_argument("--eval-n", type=int, help="generated samples for the final evaluation (default 10000 images, 2500 points)")
    bench.add_argument("--wandb", metavar="MODE", help="online, offline or off (default: online when logged in to W&B, else offline)")
    bench.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="option for every model (repeatable; with --models all, a model that refuses it is skipped); data.KEY=VALUE for datasets")
    bench.add_argument("--quiet", action="store_true", help="no training progress bars")
    bench.add_argument("--jobs", type=int, metavar="N",
                       help="train N entries at once, each in a worker process with its share of the cores "
                            "(torch.set_num_threads(cores // N)) and no progress bar; results as with one (default 1: in this process)")
    bench.add_argument("--devices", metavar="LIST",
                       help="one device per worker, such as cuda:0,cuda:1 (each cpu or an existing cuda:N; may repeat); sets --jobs to its length")
    bench.set_defaults(func=_cmd_bench)
    board = sub.add_parser("leaderboard", help="print and export the leaderboard of one or more bench folders",
                           description="Aggregate the results stores of the bench folders (mean +- std over seeds), print the table and write leaderboard.md/.csv/.html.")
    board.add_argument("bench_dirs", nargs="*", default=["bench"], metavar="BENCH_DIR", help="bench folders to combine (default ./bench)")
    board.add_argument("--out", metavar="DIR", help="where to write the leaderboard files (default: the first bench folder)")
    board.add_argument("--rank-by", metavar="NAME", help="number that orders each dataset's rows (default: the metrics' declared rank order, fid first)")
    board.set_defaults(func=_cmd_leaderboard)

    models = sub.add_parser("models", help="list models, or show one model's options")
    models.add_argument("name", nargs="?", help="show this model's options and defaults")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.set_defaults(func=lambda args: _cmd_list(args, plugins.models(), "model"))
    datasets = sub.add_parser("datasets", help="list datasets, or show one dataset's options")
    datasets.add_argument("name", nargs="?", help="show this dataset's options and defaults")
    datasets.add_argument("--json", action="store_true", help="machine-readable output")
    datasets.set_defaults(func=lambda args: _cmd_list(args, plugins.datasets(), "dataset"))
    plugs = sub.add_parser("plugins", help="list plugins with their version, hooks and health")
    plugs.add_argument("--json", action="store_true", help="machine-readable output")
    plugs.set_defaults(func=_cmd_plugins)
    new = sub.add_parser("new-plugin", help="write a ready-to-install plugin package (a model, dataset or metric)", description="Write a plugin package (pyproject.toml with the entry point, a module that works, tests, a README) for a new model, dataset or metric NAME.")
    new.add_argument("name", metavar="NAME", help="the model's (dataset's, metric's) name: lower-case words joined by '-', e.g. my-gan")
    new.add_argument("--kind", default="model", metavar="|".join(KINDS), help="what the plugin adds (default: model)")
    new.add_argument("--dir", metavar="PATH", help="folder to create (default: ./ganzoo-NAME); must not exist yet")
    new.set_defaults(func=_cmd_new_plugin)

    sample = sub.add_parser("sample", help="draw samples from a trained run into a picture")
    sample.add_argument("run_dir", metavar="RUN_DIR")
    sample.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    sample.add_argument("--label", type=int, help="class to generate (conditional models only)")
    sample.add_argument("--seed", type=int, default=0, help="seed of the latents (default 0)")
    sample.add_argument("--truncation", type=float, help="truncation psi in [0, 2] for models with a mapping network (1 = none)")
    sample.add_argument("--device", default="cpu", help="cpu (default), auto, cuda")
    sample.add_argument("--out", help="a picture of them (NAME.png; default: a new RUN_DIR/samples/sample-nN-seedS.png), or the samples themselves: DIR/ (one PNG each) or NAME.npy, for ganzoo eval --samples")
    sample.set_defaults(func=_cmd_sample)

    ev = sub.add_parser("eval", help="score a trained run, or your own samples (FID, IS, KID, precision/recall, mode coverage)",
                        description="Score a run folder with every metric that fits its data (writes RUN_DIR/eval.json and prints a table), "
                        "or score samples made anywhere with --samples PATH against --dataset NAME or --real PATH, under the same protocol.")
    ev.add_argument("run_dir", metavar="RUN_DIR", nargs="?", help="the run folder to score (or use --samples)")
    ev.add_argument("--samples", metavar="PATH", help="score these samples instead of a run: a folder of PNG/JPEG images, a .npy or a .npz array")
    ev.add_argument("--dataset", metavar="NAME", help="with --samples: the dataset to compare with (its real split, as for a run)")
    ev.add_argument("--real", metavar="PATH", help="with --samples: compare with these real samples (folder, .npy or .npz) instead of a dataset")
    ev.add_argument("--set", action="append", default=[], metavar="data.KEY=VALUE", help="with --samples --dataset: a dataset option (repeatable)")
    ev.add_argument("--out", metavar="FILE.json", help="with --samples: also write the report to this file (default: print only)")
    ev.add_argument("--n", type=int, help="generated samples (default 10000 for images, 2500 for 2-D data; with --samples: all, or the first N)")
    ev.add_argument("--n-real", type=int, help="real reference samples (default: as many as --n, at most the train split; with --real: all, or the first N)")
    ev.add_argument("--metrics", help="comma-separated metric names (default: all that fit the data; see `ganzoo metrics`)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the generated latents (default 0; with --samples, only the seed metrics receive)")
    ev.add_argument("--device", default="cpu", help="cpu (default), auto, cuda")
    ev.add_argument("--checkpoint", choices=("last", "best"), help="which checkpoint of RUN_DIR to score (default last; best: tracked by --eval-every)")
    ev.add_argument("--inception-weights", metavar="PATH", help="torch-fidelity Inception-v3 weights for RGB data (default: torch hub's checkpoints folder)")
    ev.add_argument("--download", action="store_true", help="fetch torch-fidelity's published Inception-v3 weights if they are not on disk (needs internet)")
    ev.add_argument("--json", action="store_true", help="print the report as JSON instead of the table")
    ev.set_defaults(func=_cmd_eval)
    metrics = sub.add_parser("metrics", help="list evaluation metrics")
    metrics.add_argument("--json", action="store_true", help="machine-readable output")
    metrics.set_defaults(func=_cmd_metrics)

    theory = sub.add_parser("theory", help="the tutorial's results, checked by training (optimal-d)")
    theory_sub = theory.add_subparsers(dest="theory", metavar="RESULT", required=True)
    optimal = theory_sub.add_parser("optimal-d", help="train D alone against a known p_g; compare it with D* = p_data / (p_data + p_g)",
                                    description="Train the discriminator alone (the generator frozen, its density known) with the shared trainer, "
                                    "then report |D - D*| on a grid and V(D, G) against its maximum -log 4 + 2 JSD(p_data || p_g), with a plot.")
    optimal.add_argument("--case", default="1d,2d", help="comma-separated: 1d (two Gaussians), 2d (four); default both")
    optimal.add_argument("--steps", type=int, default=1500, help="D steps of batch 256 (default 1500)")
    optimal.add_argument("--seed", type=int, default=0)
    optimal.add_argument("--out", default="theory-optimal-d", help="folder for the runs, plots and reports (must not exist, or be empty)")
    optimal.add_argument("--quiet", action="store_true", help="no progress bar")
    optimal.set_defaults(func=_cmd_optimal_d)
    return p


def _cmd_optimal_d(args) -> int:
    from .run import theory

    cases, out = [c.strip() for c in args.case.split(",") if c.strip()], Path(args.out)
    theory.check(cases, args.steps, out)
    print(f"{'case':<5} {'mean |D-D*|':>11} {'max |D-D*|':>10} {'V(D,G)':>8} {'-log4+2JSD':>10} {'JSD':>6}")
    for case in cases:
        r = theory.run_case(case, out, args.steps, args.seed, progress=not args.quiet)
        print(f"{case:<5} {r['mean_abs_gap']:>11.4f} {r['max_abs_gap']:>10.4f} {r['value_of_d']:>8.4f} {r['theory_value']:>10.4f} {r['jsd']:>6.4f}")
    print(f"plots and reports: {out}/CASE/optimal-d.png, optimal-d.json (|D - D*| over the grid where (p_data + p_g) / 2 >= 1% of its peak)")
    return 0


_LAUNCH_OPTIONS = ("nproc_per_node", "nnodes", "rdzv_endpoint", "rdzv_id")


def _cmd_run(args) -> int:
    from . import api
    from .run.launch import check_launch

    processes = check_launch(args.nproc_per_node, args.nnodes, args.rdzv_endpoint)
    _check_resume_flags(args)
    if args.resume and args.nproc_per_node is None and args.nnodes is None and not _in_job():
        # A data-parallel run resumes with as many processes as it was trained by.
        from .run.run import load_run

        trained_by = load_run(args.resume).config.world_size
        if trained_by > 1:
            args.nproc_per_node, processes = trained_by, trained_by
    if processes > 1 or (args.nnodes or 1) > 1:
        return _launch_run(args, processes)
    if args.resume:
        run = api.resume(
            args.resume, steps=args.steps, device=args.device, compile=args.compile, progress=not args.quiet,
            eval_every=args.eval_every, eval_n=args.eval_n, best_metric=args.best_metric, wandb=args.wandb, on_nan=args.on_nan,
        )
    else:
        sets = dict(parse_set(item) for item in args.set)
        run = api.train(
            args.model, args.dataset, out=args.out, config=args.config, set=sets, progress=not args.quiet,
            steps=args.steps, batch_size=args.batch_size, seed=args.seed, device=args.device, precision=args.precision, compile=args.compile, memory_format=args.memory_format,
            sample_every=args.sample_every, checkpoint_every=args.checkpoint_every, log_every=args.log_every,
            data_root=args.data_root, download=args.download,
            eval_every=args.eval_every, eval_n=args.eval_n, best_metric=args.best_metric, wandb=args.wandb, on_nan=args.on_nan,
        )
    if os.environ.get("RANK", "0") not in ("", "0"):
        return EXIT_INTERRUPTED if run.interrupted else 0  # rank 0 reports
    if run.interrupted:
        again = ""
        if _in_job():  # the processes of this machine, and the machines' own flags when there are several
            local, world = int(os.environ.get("LOCAL_WORLD_SIZE", "1")), int(os.environ["WORLD_SIZE"])
            again = f" --nproc-per-node {local}" + (f" --nnodes {world // local} --rdzv-endpoint HOST:PORT" if world > local else "")
        again += _unsaved_flags(args)
        print(f"interrupted at step {run.result.step}; checkpoint saved. Continue with: ganzoo run --resume {shlex.quote(str(run.path))}{again}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if run.result is not None and run.result.skipped:
        print(f"ganzoo run: warning: {run.result.skipped} of {run.result.step} steps had an update left out for a non-finite loss "
              "(--on-nan skip; see 'skipped' in the metrics log)", file=sys.stderr)
    print(f"run folder: {run.path}")
    print(f"final samples: {run.folder.final_picture}")
    return 0


def _launch_run(args, processes: int) -> int:
    """Check everything here, in one process, then start the ranks (``ganzoo.run.launch``)."""
    from .run import session
    from .run.launch import launch

    # On several machines the run folder is rank 0's alone (this may not be its machine):
    # only the options are checked here, and every machine must name the same folder.
    one_machine = (args.nnodes or 1) == 1
    if args.resume:
        if one_machine:
            session.existing_run(args.resume, steps=args.steps, device=args.device, compile=args.compile, world_size=processes)
        path = Path(args.resume)
    else:
        if not one_machine and not args.out:
            raise GanzooError(f"--nnodes {args.nnodes} needs --out RUN_DIR, the same on every machine (rank 0's machine writes it)")
        options = dict(
            out=args.out, config=args.config, sets=dict(parse_set(item) for item in args.set),
            steps=args.steps, batch_size=args.batch_size, seed=args.seed, device=args.device, precision=args.precision, compile=args.compile, memory_format=args.memory_format,
            sample_every=args.sample_every, checkpoint_every=args.checkpoint_every, log_every=args.log_every,
            data_root=args.data_root, download=args.download,
        )
        if one_machine:
            folder, config = session.new_run(args.model, args.dataset, **options)
            path = folder.path
        else:
            _, config = session.new_run(args.model, args.dataset, check_folder=False, **options)
            path = Path(args.out)
        args.out = str(path)  # decided once, here: every rank must name the same folder
        if args.download:  # once, here, not by every rank into one folder at the same time
            from .run.build import build_dataset

            build_dataset(config)
    return launch(_worker_args(args), args.nproc_per_node or 1, args.nnodes or 1, args.rdzv_endpoint, args.rdzv_id, path)


def _worker_args(args) -> list[str]:
    """The ``ganzoo run`` command line each rank runs: every option given, less the launch options."""
    return ["run", *_given_flags(args, lambda dest: dest not in ("help", *_LAUNCH_OPTIONS))]


# Options of one invocation that the run folder does not keep (--resume takes them again): live
# evaluation, W&B logging and what to do about a non-finite loss.
UNSAVED_RUN_OPTIONS = ("eval_every", "eval_n", "best_metric", "wandb", "on_nan")


def _unsaved_flags(args) -> str:
    """The unsaved options given other than their defaults, as flags for the command that continues the run
    (left out, W&B logging would stop, best.pt stop moving, --on-nan skip fall back to stop)."""
    return "".join(" " + shlex.quote(word) for word in _given_flags(args, lambda dest: dest in UNSAVED_RUN_OPTIONS))


def _given_flags(args: argparse.Namespace, wanted: Callable[[str], bool]) -> list[str]:
    """The options of ``args`` whose destination ``wanted`` accepts and whose value is not the default, as command-line words."""
    argv, given = [], set()
    for action in args.parser._actions:
        if not action.option_strings or not wanted(action.dest) or action.dest in given:  # --channels-last and --memory-format share one
            continue
        before = len(argv)
        value = getattr(args, action.dest, None)
        flag = action.option_strings[-1]
        if isinstance(action, argparse._StoreConstAction):  # a bare flag: --quiet, --channels-last
            argv += [flag] if value is not None and value == action.const else []
        elif isinstance(action, argparse._AppendAction):
            for item in value or []:
                argv += [flag, str(item)]
        elif value is not None and value != action.default:
            argv += [flag, str(value)]
        if len(argv) > before:
            given.add(action.dest)
    return argv


def _check_resume_flags(args) -> None:
    given = [f"--{k.replace('_', '-')}" for k in ("model", "dataset", "batch_size", "seed", "out", "config", "data_root", "sample_every", "checkpoint_every", "log_every", "precision") if getattr(args, k) is not None]
    given += ["--set"] * bool(args.set) + ["--download"] * args.download
    given += ["--memory-format/--channels-last"] * (args.memory_format is not None)
    if args.resume and given:
        raise GanzooError(f"--resume continues a run with its own config; {given[0]} cannot be changed (only --steps, --device, --compile and {', '.join('--' + o.replace('_', '-') for o in UNSAVED_RUN_OPTIONS)})")


def _cmd_bench(args) -> int:
    from .bench.runner import run_bench

    sets = dict(parse_set(item) for item in args.set)
    result = run_bench(args.models, args.datasets, args.seeds, args.kimg, out=args.out, eval_n=args.eval_n, wandb=args.wandb, sets=sets,
                       progress=not args.quiet, jobs=args.jobs, devices=args.devices)
    if result.interrupted:
        return EXIT_INTERRUPTED
    print(f"{result.trained} trained, {result.evaluated} evaluated, {len(result.skipped)} combinations skipped, "
          f"{len(result.failed)} failed, in {result.seconds:.0f} s")
    if result.board is not None:
        print(result.board.markdown, end="")
        print("wrote " + ", ".join(str(f) for f in result.board.files) + f" and {Path(args.out) / 'results.sqlite'}")
    for line in result.failed:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if result.failed else 0


def _cmd_leaderboard(args) -> int:
    from .bench.publish import write_leaderboard

    board = write_leaderboard([Path(d) for d in args.bench_dirs], Path(args.out or args.bench_dirs[0]), rank_by=args.rank_by)
    for note in board.notes:
        print(f"ganzoo leaderboard: note: {note}", file=sys.stderr)
    print(board.markdown, end="")
    print("wrote " + ", ".join(str(f) for f in board.files))
    return 0


def _options_table(schema) -> list[str]:
    lines = []
    for key, param in schema.items():
        extra = f" (one of {', '.join(map(str, param.choices))})" if param.choices else ""
        lines.append(f"  {key:<14} {param.default!r:<18} {param.help}{extra}")
    return lines or ["  (no options)"]


def _cmd_list(args, registry, kind: str) -> int:
    if args.name:
        spec = registry.get(args.name)
        def described(schema):
            return {k: {"default": p.default, "help": p.help, "choices": p.choices} for k, p in schema.items()}

        if args.json:
            listing = {"name": spec.name, "summary": spec.summary, "options": described(spec.config)}
            if kind == "model":
                listing["remedies"] = described(REMEDY_SCHEMA if spec.discriminator else {})
                listing["presets"] = {data_kind: dict(preset) for data_kind, preset in spec.presets.items()}
            print(json.dumps(listing, indent=2))
            return 0
        print(f"{spec.name}: {spec.summary}")
        print(f"plugin: {registry.owner(spec.name)}")
        print(f"options ({'--set KEY=VALUE' if kind == 'model' else '--set data.KEY=VALUE'}):")
        print("\n".join(_options_table(spec.config)))
        if kind == "model" and spec.presets:
            # What `ganzoo run` trains without flags depends on the data; say it here rather than only in the docstring.
            print("defaults by kind of data (the model's presets; --config, flags and --set override them):")
            for data_kind, preset in spec.presets.items():
                print(f"  {data_kind:<14} " + ", ".join(f"{key} {value}" for key, value in preset.items()))
        if kind == "model" and spec.discriminator:
            print("collapse remedies, for every model with a discriminator (--set KEY=VALUE; they change the discriminator):")
            print("\n".join(_options_table(REMEDY_SCHEMA)))
        elif kind == "model":
            print(f"collapse remedies: none ({spec.name} has no discriminator for them to change)")
        return 0
    rows = [{"name": s.name, "summary": s.summary, "plugin": registry.owner(s.name)} for s in registry]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(r["name"]) for r in rows), default=4)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['summary']}")
    return 0


def _cmd_plugins(args) -> int:
    infos = plugins.plugin_infos()
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2))
        return 0
    width = max((len(i.name) for i in infos), default=4)
    for i in infos:
        health = "ok" if i.ok else "BROKEN: " + "; ".join(i.errors)
        made = ", ".join(f"{kind}s: {', '.join(names)}" for kind, names in i.registered.items()) or "nothing registered"
        print(f"{i.name:<{width}}  [{plugins.describe_distribution(i)}]  hooks: {', '.join(i.hooks) or '-'}  {made}  {health}")
    broken = sum(not i.ok for i in infos)
    print(f"{len(infos)} plugins, {len(infos) - broken} ok, {broken} broken")
    return 0


def _cmd_new_plugin(args) -> int:
    folder = new_plugin(args.name, args.dir, args.kind)
    print(f"wrote {folder}/: " + ", ".join(str(p.relative_to(folder)) for p in sorted(folder.rglob("*")) if p.is_file()))
    print("next:")
    print(f"  pip install -e {folder}")
    for step in NEXT_STEPS[args.kind]:
        print("  " + step.format(name=args.name))
    print(f"  python -m pytest {folder / 'tests'}")
    return 0


def _cmd_sample(args) -> int:
    from . import api

    as_files = args.out is not None and (args.out.endswith(("/", os.sep)) or args.out.lower().endswith(".npy"))
    if as_files:
        # One file per sample (a folder of PNGs) or a .npy, drawn exactly as `ganzoo eval` draws,
        # so `ganzoo eval --samples` of them gives `ganzoo eval RUN`'s numbers.
        from .eval.evaluate import draw_samples
        from .eval.samples import write_samples
        from .run.run import MAX_SAMPLES

        if args.label is not None or args.truncation is not None:
            raise GanzooError("--label and --truncation apply to a picture (--out NAME.png); a folder or .npy holds the samples `ganzoo eval` scores")
        if not 2 <= args.n <= MAX_SAMPLES:
            raise GanzooError(f"bad --n {args.n} (valid: 2 to {MAX_SAMPLES})")
        run = api.load_run(args.run_dir).load(args.device)
        path = write_samples(draw_samples(run.gan, args.n, args.seed), args.out, run.info.kind)
        print(f"wrote {args.n} samples to {path}")
        return 0
    run = api.load_run(args.run_dir).load(args.device)
    path = run.save_samples(args.out, n=args.n, label=args.label, seed=args.seed, truncation=args.truncation)  # None: into the run folder
    print(f"wrote {path}")
    return 0


def _cmd_eval(args) -> int:
    from .eval.evaluate import evaluate, evaluate_samples, format_report
    from .run.folder import RunFolder

    names = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    if args.metrics is not None and not names:
        raise GanzooError("--metrics is empty (give names such as fid,classes; see `ganzoo metrics`)")
    if args.samples is not None:
        if args.run_dir is not None:
            raise GanzooError(f"give RUN_DIR or --samples, not both: --samples scores samples, {args.run_dir} would score a run")
        if args.checkpoint is not None:
            raise GanzooError("--checkpoint picks a run's checkpoint; it does not apply to --samples")
        report = evaluate_samples(
            args.samples, dataset=args.dataset, real=args.real, n=args.n, n_real=args.n_real, metrics=names, seed=args.seed,
            device=args.device, inception_weights=args.inception_weights, download=args.download, sets=dict(parse_set(item) for item in args.set), out=args.out,
        )
        print(json.dumps(report, indent=2) if args.json else format_report(report))
        if args.out and not args.json:
            print(f"wrote {args.out}")
        return 0
    given = [flag for flag, value in (("--real", args.real), ("--dataset", args.dataset), ("--out", args.out), ("--set", args.set)) if value]
    if given:
        raise GanzooError(f"{given[0]} goes with --samples PATH; a run is scored against its own dataset and its report goes in the run folder")
    if args.run_dir is None:
        raise GanzooError("nothing to score: give a RUN_DIR, or --samples PATH with --dataset NAME or --real PATH")
    if not RunFolder(args.run_dir).is_run() and Path(args.run_dir).exists():
        raise GanzooError(f"{args.run_dir} is not a ganzoo run folder; to score the samples in it: ganzoo eval --samples {args.run_dir} --dataset NAME")
    report = evaluate(
        args.run_dir, n=args.n, metrics=names, seed=args.seed, device=args.device,
        checkpoint=args.checkpoint or "last", inception_weights=args.inception_weights, n_real=args.n_real, download=args.download,
    )
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    if not args.json:
        print(f"wrote {RunFolder(report['run']).eval_report_file}")
    return 0


def _cmd_metrics(args) -> int:
    registry = plugins.metrics()
    rows = [{"name": s.name, "summary": s.summary, "kinds": list(s.kinds), "live": s.live, "plugin": registry.owner(s.name),
             "numbers": [dataclasses.asdict(n) for n in s.numbers]} for s in registry]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(r["name"]) for r in rows), default=4)
    for r in rows:
        print(f"{r['name']:<{width}}  [{'/'.join(r['kinds'])}{', live' if r['live'] else ''}]  {r['summary']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _one_line_warnings
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except ReportedElsewhere:
        return EXIT_USAGE
    except GanzooError as exc:
        print(f"ganzoo {args.command}: error: {_rank_prefix()}{exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        # The file system refused a path the user gave (too long, not allowed, not a folder):
        # the user's to fix, wherever the check was missed.
        print(f"ganzoo {args.command}: error: {_os_error(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ganzoo: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if _in_job() and _lost_contact(exc):
            return EXIT_LOST_CONTACT  # another rank went away; the launcher says which
        if _in_job() and _is_distributed_error(exc):
            print(f"ganzoo {args.command}: error: {_rank_prefix()}{first_line(exc)}", file=sys.stderr)
            return 1
        raise


def _in_job() -> bool:
    from .run.launch import in_job

    return in_job()


def _rank_prefix() -> str:
    """'rank R: ' in a data-parallel job's processes other than rank 0, else ''."""
    rank = os.environ.get("RANK", "").strip()
    return f"rank {rank}: " if _in_job() and rank not in ("", "0") else ""


def _lost_contact(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective failing because another rank went away (its connection closed)."""
    text = str(exc).lower()
    return any(marker in text for marker in ("connection closed by peer", "connection reset by peer", "broken pipe"))


def _is_distributed_error(exc: BaseException) -> bool:
    """A failure of torch.distributed itself (a rendezvous, the network, NCCL): said in one line, not a traceback."""
    import torch.distributed as dist

    return isinstance(exc, dist.DistError)


def _os_error(exc: OSError) -> str:
    path = str(exc.filename) if exc.filename is not None else None
    if path is not None and len(path) > 80:
        path = path[:60] + "..." + path[-17:]
    reason = exc.strerror or first_line(exc)
    return f"cannot use {path!r}: {reason}" if path is not None else reason


if __name__ == "__main__":
    sys.exit(main())
