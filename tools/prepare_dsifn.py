"""Tile the DSIFN-CD release (512x512) into 256x256 tiles in LEVIR-CD layout.

    python tools/prepare_dsifn.py SRC OUT [--check-release] \
        [--dirs t1 t2 mask] [--img-suffix .jpg .png] \
        [--label-suffix .png .tif] [--no-leak-check | --drop-leaks]

A preset of tools/tile_dataset.py (same options and rules). SRC holds
{train,val,test}/{t1,t2,mask} (images .jpg, masks .png or .tif); OUT
receives {train,val,test}/{A,B,label}/<stem>_y<top>_x<left>.png with 0/255
labels, loadable with open-cd's LEVIR_CD_Dataset. --check-release refuses,
before writing, a split whose pair count differs from the official
3600/340/48 and, while tiling, an image that is not 512x512, so the result
has exactly 14400/1360/192 tiles. Before tiling, every pair is read once
and the splits are compared by content (both dates' decoded pixels;
names ignored): the pairs that repeat across splits are reported (ChangeFormer issue #52 reports
164 of the 192 test images of ChangeFormer's processed DSIFN-CD lists also
in its training list; not measured here); --drop-leaks tiles val without
the pairs also in train and test without those also in train or val;
--no-leak-check skips the check.
"""
from ftan_opencd.errors import exit_on_user_error
from ftan_tools.datasets.tiling import Release, run_cli

RELEASE = Release('DSIFN-CD', dict(train=3600, val=340, test=48), 512)


@exit_on_user_error
def main(argv=None):
    """Run the tool.

    Args:
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        dict[str, int]: Tiles written per split.
    """
    return run_cli(__doc__.splitlines()[0], ('t1', 't2', 'mask'),
                   ('.jpg', '.png'), ('.png', '.tif'), RELEASE, argv)


if __name__ == '__main__':
    main()
