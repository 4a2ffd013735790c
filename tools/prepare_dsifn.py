"""Tile the DSIFN-CD release (512x512) into 256x256 tiles in LEVIR-CD layout.

    python tools/prepare_dsifn.py SRC OUT [--no-check] [--dirs t1 t2 mask] \
        [--img-suffix .jpg .png] [--label-suffix .png .tif]

SRC holds {train,val,test}/{t1,t2,mask} (images .jpg, masks .png or .tif);
OUT receives {train,val,test}/{A,B,label}/<stem>_<row>_<col>.png with 0/255
labels, loadable with open-cd's LEVIR_CD_Dataset. Exits with status 1 if the
tile counts differ from 14400/1360/192 (3600/340/48 images) or if the image
and label sizes of a pair disagree.
"""
from ftan_tools.datasets.tiling import run_cli

IMAGES = dict(train=3600, val=340, test=48)
IMAGE_SIZE = 512


def main(argv=None):
    """Run the tool.

    Args:
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        dict[str, int]: Tiles written per split.
    """
    return run_cli(__doc__.splitlines()[0], ('t1', 't2', 'mask'),
                   ('.jpg', '.png'), ('.png', '.tif'), IMAGES, IMAGE_SIZE,
                   argv)


if __name__ == '__main__':
    main()
