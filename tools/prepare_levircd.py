"""Tile the LEVIR-CD release into 256x256 tiles in LEVIR-CD layout.

    python tools/prepare_levircd.py SRC OUT [--check-release] \
        [--tile-size 256] [--stride S] [--splits train val test] \
        [--no-leak-check | --drop-leaks]

A preset of tools/tile_dataset.py (same options and rules). SRC holds
{train,val,test}/{A,B,label}/*.png (1024x1024); OUT receives
{train,val,test}/{A,B,label}/<stem>_y<top>_x<left>.png. --check-release
refuses, before writing, a split whose pair count differs from the
official 445/64/128 and, while tiling, an image that is not 1024x1024, so
the result has exactly 7120/1024/2048 tiles; without it any subset or size
is tiled. Before tiling, every pair is read once and the splits are
compared by content (both dates' decoded pixels; names ignored); repeats
are reported, --drop-leaks leaves them out of val and test,
--no-leak-check skips the check.
"""
from ftan_opencd.errors import exit_on_user_error
from ftan_tools.datasets.tiling import Release, run_cli

RELEASE = Release('LEVIR-CD', dict(train=445, val=64, test=128), 1024)


@exit_on_user_error
def main(argv=None):
    """Run the tool.

    Args:
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        dict[str, int]: Tiles written per split.
    """
    return run_cli(__doc__.splitlines()[0], ('A', 'B', 'label'), ('.png', ),
                   ('.png', ), RELEASE, argv)


if __name__ == '__main__':
    main()
