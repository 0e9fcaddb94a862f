"""Command line: ``python -m skdomainclust demo`` and ``python -m skdomainclust cluster``."""

import argparse
import sys

from ._cli import add_cluster_command


def _demo(args):
    import torch

    from ._demo import run_demo

    if args.threads:
        torch.set_num_threads(args.threads)
    run_demo(target=args.target, seed=args.seed, progress=not args.no_progress)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m skdomainclust",
        description="Deep clustering across domain shift, scikit-learn style.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run every method on the built-in digits shift and print a table",
        description="Train every method on scikit-learn's bundled digits: labelled 'original' "
        "digits as the source, transformed digits as the unlabelled target. Prints target "
        "ACC, NMI, pairwise F1 and seconds per method.",
    )
    demo.add_argument("--target", default="rotated",
                      help="target domain of the digits shift (default: rotated)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--threads", type=int, default=1,
                      help="torch CPU threads (default: 1, the fastest for the demo's small "
                      "networks; 0 keeps torch's choice)")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    demo.set_defaults(func=_demo)
    add_cluster_command(commands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
