"""Check a prepared data set for image pairs repeated across its splits.

    python tools/check_leaks.py ROOT [--splits train val test] \
        [--dirs A B label] [--img-suffix .png ...] [--label-suffix .png ...]

ROOT is in LEVIR-CD layout, {split}/{A,B,label} (e.g. the output of
tools/prepare_levircd.py, tools/prepare_dsifn.py or tools/tile_dataset.py,
or a release stored that way). Every image is read once and each pair is
identified by its content: SHA-1 of both dates' decoded pixels, shape and
dtype (names are ignored). The report gives, per split pair, how many pairs
of the later split (train < val < test) repeat a pair of the earlier one,
with a few names, and the pairs that share only one date. Exit status: 0
when no pair repeats, 3 when some do, 2 on bad options or (with one line
"error: ...") an unusable root. To write a split without the repeats,
prepare the source again with --drop-leaks.
"""
import argparse
import sys

from ftan_tools.datasets.leaks import leak_summary, report_lines
from ftan_opencd.errors import exit_on_user_error
from ftan_tools.datasets.tiling import (IMAGE_SUFFIXES, LABEL_SUFFIXES,
                                        OUT_DIRS, check_root_leaks)

LEAKS_FOUND = 3


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('root', help='data set root in LEVIR-CD layout')
    parser.add_argument('--splits', nargs='+', default=None,
                        help='splits to compare (default: those of train, '
                        'val, test found in ROOT)')
    parser.add_argument('--dirs', nargs=3, default=list(OUT_DIRS),
                        metavar=('FROM', 'TO', 'LABEL'),
                        help='sub-directories (default: %(default)s)')
    parser.add_argument('--img-suffix', nargs='+',
                        default=list(IMAGE_SUFFIXES),
                        help='image suffixes (default: %(default)s)')
    parser.add_argument('--label-suffix', nargs='+',
                        default=list(LABEL_SUFFIXES),
                        help='label suffixes (default: %(default)s)')
    return parser


@exit_on_user_error
def main(argv=None):
    """Run the check and print the report.

    Args:
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        LeakReport: What repeats across the splits.

    Raises:
        SystemExit: Status 2 on bad options or (with one ``error: ...``
            line) an unusable root.
    """
    args = build_parser().parse_args(argv)
    report = check_root_leaks(args.root, args.splits, args.dirs,
                              args.img_suffix, args.label_suffix)
    for line in report_lines(report):
        print(line)
    print(leak_summary(report))
    return report


if __name__ == '__main__':
    sys.exit(LEAKS_FOUND if main().has_leaks else 0)
