"""Model-randomisation sanity check (Adebayo et al. 2018; B-13) for the gradient methods.

Protocol (the one ``tests/cam/test_sanity.py`` asserts on fewer models): a tiny 3-block
CNN is trained on the planted-cube task (class 1: a bright cube in noise, class 0: noise;
held-out accuracy printed), then its parameter blocks are re-initialised with their own
initialisers, cascading from the logits downward (medcam's audit implementation). After
step 1 the head is random, after step 2 also the last conv block (whose ReLU output is
the target layer), after the last step every block. Each cell is the mean Spearman rank
correlation between the trained and randomised maps ``L`` (medcam's output: ReLU,
upsampled, min-max) over 8 positive inputs and 8 re-initialisation seeds, averaged over
``--models`` independently trained models, with the range over the models in brackets.
The last column repeats step 2 on the signed, pre-ReLU maps at feature resolution.
``--distractor`` adds class-irrelevant structure: every volume (both classes) also holds
a dark cube of the same size and contrast (3D input 24^3 to leave room; 200 steps).

A method passes B-13 if the step-2 value is below 0.5.

Usage::

    python bench/cam_sanity.py [--models 5] [--distractor]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medcam import cam
from medcam.audit.randomization import cascade_blocks, spearman
from medcam.synthetic.planted import (
    add_distractor,
    planted_batch,
    planted_task,
    randomisation_spearman,
    randomised,
    tiny_cnn,
    train_planted,
)

#: Input edge per spatial dims (feature grid 8x8 in 2D, 4x4x4 in 3D).
SIZE = {2: 32, 3: 16}
#: With the distractor: room for two cubes; more training steps (a harder task).
SIZE_DISTRACTOR = {2: 32, 3: 24}
STEPS = {False: 40, True: 200}
#: Re-initialisation seeds per trained model (distinct for every model).
SEEDS = 8
METHODS = [m for m in cam.available() if cam.describe(m).cost_class == "gradient"] + ["fdcam"]


def trained(dims: int, seed: int, size: int, distractor: bool) -> tuple[torch.nn.Module, float]:
    """A tiny CNN trained on the planted task and its accuracy on 256 fresh volumes."""
    model = train_planted(tiny_cnn(dims, seed=seed), dims, steps=STEPS[distractor], size=size,
                          distractor=distractor)
    x, y = planted_task(dims, 256, size, seed=5000, distractor=distractor)
    with torch.no_grad():
        return model, float((model(x).argmax(dim=1) == y).float().mean())


def reinit_seeds(model_seed: int) -> range:
    """The re-initialisation seeds used with the model trained from ``model_seed``."""
    return range(1000 * model_seed, 1000 * model_seed + 10 * SEEDS, 10)


def signed_feature_rho(method: str, model: torch.nn.Module, x: torch.Tensor,
                       seeds: range) -> float:
    """Step-2 Spearman on signed pre-ReLU feature-resolution maps (the old test's measure)."""
    before = cam.create(method, model, target_layer="7", relu=False).compute(x, 1)
    rhos = []
    for seed in seeds:
        after = cam.create(method, randomised(model, 2, seed), target_layer="7",
                           relu=False).compute(x, 1)
        rhos += [spearman(b, a) for b, a in
                 zip(before.feature_maps, after.feature_maps, strict=True)]
    return statistics.fmean(rhos)


def cell(values: list[float]) -> str:
    """``mean [min, max]``."""
    return f"{statistics.fmean(values):.2f} [{min(values):.2f}, {max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=5, help="trained models per dims")
    parser.add_argument("--distractor", action="store_true",
                        help="every volume also holds a dark cube (class-irrelevant)")
    args = parser.parse_args()
    sizes = SIZE_DISTRACTOR if args.distractor else SIZE
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    for dims in (2, 3):
        x, corners = planted_batch(dims, 8, size=sizes[dims], seed=999)
        if args.distractor:
            x = add_distractor(x, corners, seed=999)
        steps = {"head": 1, "+ last conv block": 2}
        results: dict[tuple[str, str], list[float]] = {}
        accs = []
        for seed in range(args.models):
            model, acc = trained(dims, seed, sizes[dims], args.distractor)
            accs.append(acc)
            steps["all blocks"] = len(cascade_blocks(model))
            for method in METHODS:
                for label, k in steps.items():
                    rhos = randomisation_spearman(method, model, x, k, reinit_seeds(seed))
                    results.setdefault((method, label), []).append(statistics.fmean(rhos))
                results.setdefault((method, "signed"), []).append(
                    signed_feature_rho(method, model, x, reinit_seeds(seed)))
        print(f"### {dims}D, input {sizes[dims]}^{dims}"
              f"{', dark-cube distractor' if args.distractor else ''}, {args.models} models "
              f"(held-out accuracy {min(accs):.3f}-{max(accs):.3f})\n")
        labels = [*steps, "signed"]
        print("| method | " + " | ".join(f"rho: {lab}" for lab in labels) + " |")
        print("|---|" + "---:|" * len(labels))
        for method in METHODS:
            print(f"| {method} | " + " | ".join(cell(results[method, lab]) for lab in labels)
                  + " |")
        print(flush=True)
    print(f"total {time.perf_counter() - t0:.0f} s, torch threads 1")


if __name__ == "__main__":
    main()
