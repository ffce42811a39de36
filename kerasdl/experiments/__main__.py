"""Command line of the notes' experiments: `python -m kerasdl.experiments NAME ...`."""

import argparse
import importlib
import sys

from kerasdl.experiments import EXPERIMENTS


def build_parser():
    """Returns the parser with one sub-command per experiment."""
    parser = argparse.ArgumentParser(
        prog="python -m kerasdl.experiments",
        description="Run one of the notes' experiments.",
    )
    subparsers = parser.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    for name, module_name in EXPERIMENTS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(
            name,
            help=module.SUMMARY,
            description=module.__doc__,
            epilog=module.EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.main)
    return parser


def main(argv=None):
    """Parses `argv` (default `sys.argv[1:]`) and runs the chosen experiment."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
