"""Pair the images of two folders by file name."""
import os
import os.path as osp
from typing import List, Tuple

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')


def list_images(folder: str) -> List[str]:
    """Names of the image files directly inside ``folder``, sorted.

    Args:
        folder (str): Directory.
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(f'directory not found: {folder}')
    return sorted(
        name for name in os.listdir(folder)
        if osp.splitext(name)[1].lower() in IMAGE_SUFFIXES
        and osp.isfile(osp.join(folder, name)))


def pair_folders(dir1: str,
                 dir2: str) -> Tuple[List[str], List[str], List[str]]:
    """Match the images of two folders by identical file name.

    Args:
        dir1 (str): Folder of date 1.
        dir2 (str): Folder of date 2.

    Returns:
        tuple[list[str], list[str], list[str]]: The names in both folders,
        the names only in ``dir1`` and the names only in ``dir2``.
    """
    names1, names2 = set(list_images(dir1)), set(list_images(dir2))
    return (sorted(names1 & names2), sorted(names1 - names2),
            sorted(names2 - names1))


def output_name(name: str) -> str:
    """Mask file name for an input name: GeoTIFF for .tif/.tiff, else PNG."""
    stem, suffix = osp.splitext(name)
    return name if suffix.lower() in ('.tif', '.tiff') else stem + '.png'
