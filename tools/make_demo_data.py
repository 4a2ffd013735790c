"""Write the seeded synthetic demo data set in LEVIR-CD layout.

    python tools/make_demo_data.py --out data/demo-cd --seed 0 --size 256 \
        --num-train 200 --num-val 40 --num-test 40
"""
import argparse
import time

from ftan_opencd.errors import exit_on_user_error
from ftan_tools.datasets.synthetic import DEFAULT_COUNTS, write_dataset


def parse_args(argv=None):
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        argparse.Namespace: The options.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='data/demo-cd',
                        help='output root (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--size', type=int, default=256,
                        help='image side in pixels (default: %(default)s)')
    for split, num in DEFAULT_COUNTS.items():
        parser.add_argument(f'--num-{split}', type=int, default=num,
                            help=f'{split} image pairs (default: %(default)s)')
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv=None):
    """Generate the data set and print a summary.

    Args:
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` if None.
    """
    args = parse_args(argv)
    start = time.perf_counter()
    counts = write_dataset(
        args.out, args.seed, args.size,
        {split: getattr(args, f'num_{split}') for split in DEFAULT_COUNTS})
    print(f'wrote {counts} image pairs to {args.out} in '
          f'{time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
