"""The predict step's input and check: a synthetic GeoTIFF pair, and the
size, georeferencing and changed fraction of the predicted mask."""
import os
import os.path as osp
import sys
from typing import Dict, List

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

def write_geotiff_pair(folder: str, size: int) -> List[str]:
    """The synthetic GeoTIFF pair of tools/benchmark_predict_large.py.

    Args:
        folder (str): Where ``t1.tif`` and ``t2.tif`` are written.
        size (int): Their side in pixels.

    Returns:
        list[str]: The two paths.
    """
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    from benchmark_predict_large import write_scene
    os.makedirs(folder, exist_ok=True)
    paths = [osp.join(folder, f't{i}.tif') for i in (1, 2)]
    for path, changed in zip(paths, (False, True)):
        write_scene(path, size, changed=changed)
    return paths


def predict_check(out: str, reference: str) -> Dict:
    """Size, georeferencing and changed fraction of a predicted GeoTIFF.

    Args:
        out (str): The predicted change mask.
        reference (str): The input it must be georeferenced like.

    Returns:
        dict: ``shape``, ``dtype``, ``georeferenced`` (same CRS,
        transform and shape) and ``changed_fraction``.
    """
    import numpy as np
    import rasterio
    with rasterio.open(out) as mask, rasterio.open(reference) as ref:
        data = mask.read(1)
        return dict(
            shape=list(data.shape), dtype=str(data.dtype),
            georeferenced=bool(mask.crs == ref.crs
                               and mask.transform == ref.transform
                               and mask.shape == ref.shape),
            changed_fraction=float(np.mean(data == 1)))
