"""Demo and timing of style transfer by optimisation (Gatys et al.) on scikit-image's pictures.

Not a test. Runs ``ganstudio.tasks.optimize_style`` with each optimiser asked for, prints the
time per step (one VGG-19 forward and backward pass), and writes, per optimiser, the loss
curve as CSV and PNG and the resulting image:

    python scripts/gatys_demo.py --vgg ~/.cache/torch/hub/checkpoints/vgg19-dcbb9e9d.pth --steps 300
    python scripts/gatys_demo.py --vgg path/to/vgg_normalised.pth --style immunohistochemistry

Without VGG-19 weights (the studio never downloads them), ``--random-weights torchvision`` (or
``adain``) builds the network at its real shapes with random values: the images mean nothing,
but the time per step is the real one, since it does not depend on the values.

    python scripts/gatys_demo.py --random-weights torchvision --steps 6
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image
from skimage import data

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from ganstudio import feature_network  # noqa: E402
from ganstudio.errors import GanStudioError  # noqa: E402
from ganstudio.models import vgg19  # noqa: E402
from ganstudio.tasks.optimize_style import optimize_style  # noqa: E402

PICTURES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--vgg", help="VGG-19 weights: vgg19-dcbb9e9d.pth or vgg_normalised.pth (default: hub cache)")
    weights.add_argument("--random-weights", choices=("torchvision", "adain"),
                         help="random weights in that layout: for timing only")
    parser.add_argument("--content", choices=PICTURES, default="astronaut")
    parser.add_argument("--style", choices=PICTURES, default="coffee")
    parser.add_argument("--side", type=int, default=512, help="longer side worked on (max_side)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--optimizer", nargs="+", choices=("lbfgs", "adam"), default=["lbfgs", "adam"])
    parser.add_argument("--pooling", choices=("max", "avg"), default="max")
    parser.add_argument("--style-weight", type=float, default=1e6)
    parser.add_argument("--content-weight", type=float, default=1.0)
    parser.add_argument("--tv-weight", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("gatys_demo"))
    return parser.parse_args(argv)


def load_network(args: argparse.Namespace) -> vgg19.VGG19Features:
    if args.random_weights:
        torch.manual_seed(0)
        network = vgg19.build(vgg19.Config(layout=args.random_weights, pooling=args.pooling))
        return network.eval().requires_grad_(False).to(args.device)
    return feature_network.load_vgg19(args.vgg, pooling=args.pooling, device=args.device)


def run_one(args: argparse.Namespace, network: vgg19.VGG19Features, optimizer: str) -> dict[str, float]:
    content = Image.fromarray(getattr(data, args.content)())
    style = Image.fromarray(getattr(data, args.style)())
    rows = []
    result = None
    for report in optimize_style(
        content, style, vgg=network, steps=args.steps, optimizer=optimizer, max_side=args.side, seed=args.seed,
        style_weight=args.style_weight, content_weight=args.content_weight, tv_weight=args.tv_weight,
        progress_every=1,
    ):
        rows.append({"step": report.step, "seconds": report.seconds, **report.losses})
        result = report
        if report.step % 10 == 0 or report.step == args.steps:
            print(f"  {optimizer} step {report.step:4d}  total {report.losses['total']:.4g}  "
                  f"({report.seconds:.1f} s)", flush=True)
    stem = args.out / f"{args.content}_{args.style}_{optimizer}_{result.image.width}px"
    result.image.save(stem.with_suffix(".png"))
    write_curve(rows, stem)
    # The first step also computes the content and style targets (two more VGG passes) and warms up.
    deltas = [later["seconds"] - earlier["seconds"] for earlier, later in zip(rows, rows[1:])]
    return {
        "first_step_s": rows[0]["seconds"],
        "median_step_s": statistics.median(deltas) if deltas else rows[0]["seconds"],
        "steps": len(rows),
        "total_s": rows[-1]["seconds"],
        "size": f"{result.image.width}x{result.image.height}",
    }


def write_curve(rows: list[dict[str, float]], stem: Path) -> None:
    with open(stem.parent / f"{stem.name}_losses.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (matplotlib is not installed: the loss curve is written as CSV only)")
        return
    figure, axes = plt.subplots(figsize=(6, 4))
    for name in ("total", "style", "content", "tv"):
        values = [row[name] for row in rows]
        if any(values):
            axes.plot([row["step"] for row in rows], values, label=name)
    axes.set_yscale("log")
    axes.set_xlabel("step (one VGG-19 forward and backward pass)")
    axes.set_ylabel("weighted loss")
    axes.set_title(stem.name)
    axes.legend()
    figure.tight_layout()
    figure.savefig(stem.parent / f"{stem.name}_losses.png", dpi=100)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        network = load_network(args)
    except GanStudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    source = f"random weights, {args.random_weights} layout" if args.random_weights else f"{network.layout} layout"
    print(f"VGG-19 ({source}, {args.pooling} pooling) on {args.device}, {torch.get_num_threads()} CPU threads, "
          f"torch {torch.__version__}")
    results = {}
    for optimizer in args.optimizer:
        start = time.perf_counter()
        try:
            results[optimizer] = run_one(args, network, optimizer)
        except GanStudioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        results[optimizer]["wall_s"] = time.perf_counter() - start
    print(f"\n{'optimizer':<10}{'size':>10}{'steps':>7}{'first step s':>14}{'median step s':>15}{'total s':>9}")
    for optimizer, numbers in results.items():
        print(f"{optimizer:<10}{numbers['size']:>10}{numbers['steps']:>7}{numbers['first_step_s']:>14.2f}"
              f"{numbers['median_step_s']:>15.2f}{numbers['total_s']:>9.1f}")
    print(f"\nwritten to {args.out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
