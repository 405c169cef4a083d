"""``python -m ganstudio.eval``: score the built-in digit models and print a table (or Markdown, or JSON).

Errors print one line and exit with status 2 (``{"error": ...}`` with ``--json``), as the main CLI does.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ganstudio.errors import GanStudioError

if TYPE_CHECKING:
    from ganstudio.eval.suite import Judges
    from ganstudio.registry import Registry

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    from ganstudio.eval.classifier import ClassifierConfig
    from ganstudio.eval.suite import BUILT_IN_MODELS, DEFAULT_SAMPLES, PACKAGE_MODELS

    parser = argparse.ArgumentParser(
        prog="python -m ganstudio.eval",
        description="Score GAN Studio's built-in digit models through the same task functions as the app, "
        "with a digit classifier and pixel measurements as judges.",
    )
    parser.add_argument("--models", nargs="+", metavar="NAME", default=list(BUILT_IN_MODELS),
                        help=f"models to score (default: all of {', '.join(BUILT_IN_MODELS)}; "
                        f"also {', '.join(PACKAGE_MODELS)})")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES,
                        help="images per measurement (test inputs are capped at the 1,000 held-out digits)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the results as JSON")
    output.add_argument("--markdown", action="store_true", help="print a Markdown table (for the README)")
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto", help="where the models run")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for torch (default 1: single 32 px images gain nothing from more, "
                        "and a busy machine makes extra threads much slower); 0 = torch's default")
    parser.add_argument("--classifier-steps", type=int, default=ClassifierConfig().steps,
                        help="training steps of the digit classifier when it is not cached (fewer: a quick, rougher judge)")
    parser.add_argument("--cache-dir", help="where the judges' weights are cached (default: $GANSTUDIO_HOME/eval)")
    return parser


def main(argv: Sequence[str] | None = None, *, registry: Registry | None = None, judges: Judges | None = None) -> int:
    """Run the evaluation and print the result; returns the exit status.

    ``registry`` and ``judges`` replace the default ones (tests pass tiny models and tiny judges).
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    logging.getLogger("ganstudio.eval").setLevel(logging.INFO)  # say so when the judges are trained (stderr)
    args = build_parser().parse_args(argv)
    try:
        from ganstudio.eval import report
        from ganstudio.eval.classifier import ClassifierConfig, torch_threads
        from ganstudio.eval.suite import (
            SCORERS,
            check_request,
            evaluate_models,
            prepare_judges,
        )

        check_request(args.models, args.samples)
        if args.classifier_steps < 1:
            raise GanStudioError(f"--classifier-steps must be at least 1, not {args.classifier_steps}.")
        if args.threads < 0:
            raise GanStudioError(f"--threads must be 0 (torch's default) or more, not {args.threads}.")
        with torch_threads(args.threads):
            # the digit classifiers judge the digit models only; the package models are measured from pixels
            if judges is None and any(name in SCORERS for name in args.models):
                judges = prepare_judges(digit_config=ClassifierConfig(steps=args.classifier_steps), cache_dir=args.cache_dir)
            reports = evaluate_models(args.models, registry=registry, judges=judges, samples=args.samples, device=args.device)
    except GanStudioError as error:
        if args.json:
            print(json.dumps({"error": str(error)}))
        else:
            print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    if args.json:
        print(report.format_json(reports, judges, args.samples))
    elif args.markdown:
        print(report.format_markdown(reports, judges, args.samples), end="")
    else:
        print(report.format_text(reports, judges, args.samples), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
