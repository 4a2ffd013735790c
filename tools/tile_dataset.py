"""Cut a change-detection data set into tiles in LEVIR-CD layout.

    python tools/tile_dataset.py SRC OUT [--splits train val test] \
        [--dirs A B label] [--tile-size 256] [--stride S] \
        [--img-suffix .png .jpg ...] [--label-suffix .png .tif ...] \
        [--label-threshold T] [--no-leak-check | --drop-leaks]

SRC holds {split}/{FROM,TO,LABEL} (default A, B, label) with the same file
stem in the three folders; images of any size and of any format the
project reads (PNG, JPEG, BMP, TIFF/GeoTIFF). OUT (outside SRC) receives
{split}/{A,B,label}/<stem>_y<top>_x<left>.png: tiles every --stride pixels
(default: the tile size), the last one of each row and column flush with
the border as in sliding-window prediction; labels as 0/255 PNG by the
project's label rule. An image smaller than the tile is refused. Images
that PNG cannot hold losslessly (a raster of other than 1 or 3 bands, types
other than uint8/uint16) are written as GeoTIFF .tif. Before tiling, every
pair of every split is read once and the splits are compared by content
(SHA-1 of both dates' decoded pixels, shape and dtype; names are ignored):
pairs repeated across splits are reported per split pair with a few names
(tools/check_leaks.py does the same on a prepared root). --drop-leaks
writes val without the pairs also in train, and test without those also
in train or val; --no-leak-check skips the check. Any error stops the
tool with one line "error: ..." and status 2 (as for bad options).
See ftan_tools/datasets/tiling.py for the rules.
"""
from ftan_opencd.errors import exit_on_user_error
from ftan_tools.datasets.tiling import (IMAGE_SUFFIXES, LABEL_SUFFIXES,
                                        OUT_DIRS, run_cli)


@exit_on_user_error
def main(argv=None):
    """Run the tool.

    Args:
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        dict[str, int]: Tiles written per split.
    """
    return run_cli(__doc__.splitlines()[0], OUT_DIRS, IMAGE_SUFFIXES,
                   LABEL_SUFFIXES, None, argv)


if __name__ == '__main__':
    main()
