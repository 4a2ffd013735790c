"""Tile the LEVIR-CD release into 256x256 tiles in LEVIR-CD layout.

    python tools/prepare_levircd.py SRC OUT [--no-check] [--tile-size 256]

SRC holds {train,val,test}/{A,B,label}/*.png (1024x1024); OUT receives
{train,val,test}/{A,B,label}/<stem>_<row>_<col>.png. Exits with status 1 if
the tile counts differ from 7120/1024/2048 (445/64/128 images) or if the
image and label sizes of a pair disagree.
"""
from ftan_tools.datasets.tiling import run_cli

IMAGES = dict(train=445, val=64, test=128)
IMAGE_SIZE = 1024


def main(argv=None):
    """Run the tool.

    Args:
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        dict[str, int]: Tiles written per split.
    """
    return run_cli(__doc__.splitlines()[0], ('A', 'B', 'label'), ('.png', ),
                   ('.png', ), IMAGES, IMAGE_SIZE, argv)


if __name__ == '__main__':
    main()
