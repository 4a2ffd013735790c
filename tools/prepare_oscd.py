"""Stack the OSCD release into N-band GeoTIFF pairs in LEVIR-CD layout.

    python tools/prepare_oscd.py SRC OUT [--bands B01 B02 ... B12] \
        [--splits train val test] [--val-cities C ... | --num-val 2] \
        [--label-file cm/cm.png] [--label-threshold T] \
        [--resampling bilinear] [--tile-size N [--stride S]] \
        [--stats [--max-value 65535]]

SRC holds the unpacked release: "Onera Satellite Change Detection dataset
- Images" (train.txt, test.txt, <city>/imgs_{1,2}_rect/B01.tif ...) and
"... - Train Labels" / "... - Test Labels" (<city>/cm/cm.png). OUT (outside
SRC) receives {train,val,test}/{A,B}/<city>.tif, one GeoTIFF per city and
date with the bands in the order of --bands (default B01 B02 B03 B04 B05
B06 B07 B08 B8A B09 B10 B11 B12), uint16 values as stored, on the grid
(CRS, geotransform) of B02, other resolutions resampled onto it
(bilinear); and {split}/label/<city>.png, the change mask as 0/255. val is
the last --num-val cities of train.txt (or --val-cities); test is
test.txt. --tile-size cuts every split into tiles (last tile flush with
the border). --stats prints the per-band mean/std of the train split as
config lines. Any error stops the tool with one line "error: ..." and
status 2 (as for bad options). See ftan_tools/datasets/oscd.py.
"""
from ftan_opencd.errors import exit_on_user_error
from ftan_tools.datasets.oscd import run_cli


@exit_on_user_error
def main(argv=None):
    """Run the tool.

    Args:
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        dict[str, int]: Files per output folder per split.
    """
    return run_cli(argv)


if __name__ == '__main__':
    main()
