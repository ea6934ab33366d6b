"""Peak memory of training on an image folder of 20,000 images against one of 200,000.

The image-folder dataset decodes once into a uint8 ``.npy`` under the ganzoo cache and
trains from it memory-mapped, reading only each batch's rows; so the peak resident memory
of a training process should not grow with the number of images. This script writes two
folders of generated 64x64 RGB PNGs (drawn shapes, two class subfolders), then for each
runs ``ganzoo run --model vanilla --dataset image-folder`` twice as a child process: the
first run decodes into the cache, the second opens it. It prints each run's peak RSS
(``ru_maxrss`` of that child, from ``os.wait4``) and wall-clock time, and the ratio of the
large folder's peak to the small one's for both runs. Target: the cached runs differ by
less than 10%.

The rows of each batch are read from the cache file with ``pread``, not through the memory
map: pages touched through a mapping count in RSS (the kernel maps each one's neighbours
too), so reading through it made RSS grow with the steps towards the size of the file.

    python benchmarks/data_memory.py [--sizes 20000 200000] [--steps 100] [--work DIR] [--keep]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

VARIANTS = 512  # distinct pictures; the folder repeats them under different names


def _pictures(side: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(VARIANTS):
        shape, colour = ("circles", (220, 40 + i % 100, 40)) if i % 2 == 0 else ("squares", (40, 60 + i % 100, 220))
        img = Image.new("RGB", (side, side), (i % 37, i % 23, i % 29))
        box = [4 + i % 17, 4 + i % 13, side // 2 + i % 19, side // 2 + i % 11]
        (ImageDraw.Draw(img).ellipse if shape == "circles" else ImageDraw.Draw(img).rectangle)(box, fill=colour)
        buffer = io.BytesIO()
        img.save(buffer, format="PNG")
        out.append((shape, buffer.getvalue()))
    return out


def make_folder(root: Path, n: int, side: int) -> Path:
    if (root / "done").is_file():
        return root
    pictures = _pictures(side)
    for shape in ("circles", "squares"):
        (root / shape).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        shape, data = pictures[i % VARIANTS]
        (root / shape / f"{i:07d}.png").write_bytes(data)
    (root / "done").write_text("")
    return root


def run_training(root: Path, out: Path, steps: int, side: int, env: dict) -> tuple[float, float, int]:
    """``(peak RSS in MiB, seconds, exit code)`` of one training process."""
    command = [
        sys.executable, "-m", "ganzoo.cli", "run", "--model", "vanilla", "--dataset", "image-folder",
        "--data-root", str(root), "--set", f"data.size={side}", "--steps", str(steps), "--batch-size", "64",
        "--sample-every", str(10 * steps), "--checkpoint-every", str(10 * steps), "--device", "cpu", "--out", str(out),
    ]
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(child.stderr.read().decode()[-2000:], file=sys.stderr)
    child.stderr.close()
    return usage.ru_maxrss / 1024, seconds, code  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 200000], help="images per folder")
    parser.add_argument("--side", type=int, default=64, help="image side in pixels")
    parser.add_argument("--steps", type=int, default=100, help="training steps per run")
    parser.add_argument("--work", type=Path, help="folder for the images, the cache and the runs (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="ganzoo-data-memory-"))
    env = {**os.environ, "GANZOO_CACHE": str(work / "cache"), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    rows = []
    try:
        for n in args.sizes:
            t = time.perf_counter()
            root = make_folder(work / f"images-{n}", n, args.side)
            print(f"{n} images: folder ready in {time.perf_counter() - t:.0f} s", flush=True)
            shutil.rmtree(work / "cache", ignore_errors=True)  # the first run decodes, whatever ran before
            for label in ("decode", "cached"):
                out = work / f"run-{n}-{label}"
                shutil.rmtree(out, ignore_errors=True)
                rss, seconds, code = run_training(root, out, args.steps, args.side, env)
                if code != 0:
                    raise SystemExit(f"training on {n} images failed (exit {code})")
                rows.append((n, label, rss, seconds))
                print(f"{n:>8} images, {label:>6} run: peak RSS {rss:8.1f} MiB, {seconds:6.1f} s", flush=True)
        print()
        print("| images | run | peak RSS | wall-clock |")
        print("|---|---|---|---|")
        for n, label, rss, seconds in rows:
            print(f"| {n:,} | {label} | {rss:.0f} MiB | {seconds:.1f} s |")
        if len(args.sizes) >= 2:
            small, large = args.sizes[0], args.sizes[-1]
            for label in ("decode", "cached"):
                peak = {n: rss for n, lab, rss, _ in rows if lab == label}
                print(f"{label} runs: peak RSS {large:,} / {small:,} images = {peak[large] / peak[small]:.3f}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
