"""The fixed, stratified train / held-out split of a labelled dataset.

The feature network is trained on the train split of the 5,000 bundled MNIST images and
checked on the held-out split; evaluation uses the same split, so "held-out real vs train
real" (the floor) compares images the network never saw against images it did not either
need to have seen. Same labels and seed give the same split on every machine.

The split itself lives in :mod:`ganzoo.data`, because training uses it too (a model that
declares ``ModelSpec(trains_on="train")`` never trains on the held-out part) and the
training layers may not import the evaluation; this module names it for evaluation code.
"""

from __future__ import annotations

from ganzoo.data import HELDOUT_FRACTION, SPLIT_SEED, stratified_split

__all__ = ["HELDOUT_FRACTION", "SPLIT_SEED", "stratified_split"]
