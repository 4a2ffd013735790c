"""Multispectral data: the OSCD preparation tool on a miniature release, and
13-band Sentinel-2 GeoTIFF pairs through tools/train.py, tools/test.py and
tools/predict.py with the OSCD config."""
import os
import os.path as osp
import re
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from ftan_tools.datasets import oscd
from ftan_tools.datasets.tiling import DatasetError
from .conftest import REPO, load_tool, run_tool_main

rasterio = pytest.importorskip('rasterio')

CONFIG = osp.join(REPO, 'configs/ftan/ftan-b_13band_96x96_20k_oscd.py')
CRS = 'EPSG:32631'
# Native resolution (m) of each Sentinel-2 band.
RESOLUTION = dict(B01=60, B02=10, B03=10, B04=10, B05=20, B06=20, B07=20,
                  B08=10, B8A=20, B09=60, B10=60, B11=20, B12=20)
DATE_SHIFT = 7  # date 2 = date 1 + 7 in every band
# city: (split list, index, height and width at 10 m)
CITIES = dict(alpha=('train', 0, 60, 60), bravo=('train', 1, 60, 60),
              charlie=('train', 2, 60, 60), delta=('test', 3, 60, 90))


# ------------------------------------------------------------- the release
def from_origin(west, north, xsize, ysize):
    """North-up geotransform (rasterio's from_origin without its
    deprecation warning)."""
    return rasterio.Affine(xsize, 0.0, west, 0.0, -ysize, north)


def origin(index):
    """Top-left corner (m) of a city."""
    return 500000.0 + 10000 * index, 4000000.0 - 10000 * index


def band_base(band):
    """Value of a band at x = 0: 1000 x (1-based position in S2_BANDS)."""
    return 1000 * (oscd.S2_BANDS.index(band) + 1)


def band_values(band, height, width, date):
    """A band at its native resolution: its base plus the x coordinate of
    the pixel centre in metres from the city's left edge, minus 5 (so
    that the 10 m grid reads base + 10 * column)."""
    res = RESOLUTION[band]
    cols = np.arange(width * 10 // res) * res + res // 2 - 5
    row = band_base(band) + DATE_SHIFT * date + cols
    return np.tile(row.astype(np.uint16), (height * 10 // res, 1))


def expected_on_grid(band, height, width, date):
    """The band on the 10 m grid where bilinear resampling is exact: every
    column whose centre lies between two native pixel centres."""
    res = RESOLUTION[band]
    exact = np.arange(width)
    margin = (res // 10 - 1) // 2 + (1 if res > 10 else 0)
    inner = exact[margin:width - margin] if res > 10 else exact
    return inner, band_base(band) + DATE_SHIFT * date + 10 * inner


def change_mask(index, height, width):
    """0/1 mask with a city-specific changed square."""
    mask = np.zeros((height, width), np.uint8)
    mask[5 + index:20 + index, 10 + 5 * index:30 + 5 * index] = 1
    return mask


def write_raster(path, array, res, corner):
    with rasterio.open(path, 'w', driver='GTiff', height=array.shape[0],
                       width=array.shape[1], count=1, dtype=array.dtype.name,
                       crs=CRS, transform=from_origin(*corner, res, res)) as d:
        d.write(array, 1)


def make_release(root, cities=CITIES, skip=()):
    """A miniature OSCD release; ``skip``: relative paths not written."""
    images = osp.join(root, oscd.IMAGES_DIR)
    os.makedirs(images)
    names = {s: [c for c, v in cities.items() if v[0] == s]
             for s in ('train', 'test')}
    with open(osp.join(images, 'train.txt'), 'w') as f:
        f.write(','.join(names['train']))  # one line, as in the release
    with open(osp.join(images, 'test.txt'), 'w') as f:
        f.write('\n'.join(names['test']) + '\n')
    for city, (split, index, height, width) in cities.items():
        for date, folder in enumerate(oscd.DATE_DIRS):
            os.makedirs(osp.join(images, city, folder))
            for band, res in RESOLUTION.items():
                rel = osp.join(city, folder, f'{band}.tif')
                if rel not in skip:
                    write_raster(osp.join(images, rel),
                                 band_values(band, height, width, date), res,
                                 origin(index))
        labels = osp.join(root, oscd.LABELS_DIRS[split], city, 'cm')
        os.makedirs(labels)
        mask = change_mask(index, height, width)
        cv2.imwrite(osp.join(labels, 'cm.png'), mask * 255)
        cv2.imwrite(osp.join(labels, f'{city}-cm.tif'), mask + 1)  # 1/2
    return root


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    return make_release(str(tmp_path_factory.mktemp('oscd-release')))


@pytest.fixture(scope='module')
def prepared(release, tmp_path_factory):
    """The release prepared with the defaults plus --num-val 1."""
    out = str(tmp_path_factory.mktemp('oscd13'))
    files = load_tool('prepare_oscd').main([release, out, '--num-val', '1'])
    assert files == dict(train=2, val=1, test=1)
    return out


def run_prep(*argv):
    """Run tools/prepare_oscd.py in-process; (code, message)."""
    return run_tool_main('prepare_oscd', argv)


def read(path):
    with rasterio.open(path) as d:
        return d.read(), d.profile, d.descriptions


# ------------------------------------------------------------- preparation
def test_city_lists_and_split_assignment(tmp_path):
    path = tmp_path / 'train.txt'
    path.write_text('aguasclaras,bercy, bordeaux\nnantes\n')
    assert oscd.read_city_list(str(path)) == [
        'aguasclaras', 'bercy', 'bordeaux', 'nantes']
    splits = oscd.assign_splits(['a', 'b', 'c', 'd'], ['e'])
    assert splits == dict(train=['a', 'b'], val=['c', 'd'], test=['e'])
    splits = oscd.assign_splits(['a', 'b', 'c'], ['e'], val_cities=['a'])
    assert splits == dict(train=['b', 'c'], val=['a'], test=['e'])
    with pytest.raises(DatasetError, match=r"\['x'\] are not in train"):
        oscd.assign_splits(['a', 'b'], ['e'], val_cities=['x'])
    with pytest.raises(DatasetError, match='both train.txt and test.txt'):
        oscd.assign_splits(['a', 'b'], ['b'])
    with pytest.raises(DatasetError, match='at least one for training'):
        oscd.assign_splits(['a', 'b'], ['e'], num_val=2)


def test_split_assignment_and_files(prepared):
    listing = {split: {d: sorted(os.listdir(osp.join(prepared, split, d)))
                       for d in ('A', 'B', 'label')}
               for split in ('train', 'val', 'test')}
    assert listing['train'] == dict(A=['alpha.tif', 'bravo.tif'],
                                    B=['alpha.tif', 'bravo.tif'],
                                    label=['alpha.png', 'bravo.png'])
    assert listing['val']['A'] == ['charlie.tif']  # last of train.txt
    assert listing['test']['label'] == ['delta.png']
    assert sorted(os.listdir(prepared)) == ['test', 'train', 'val']


@pytest.mark.parametrize('split,city', [('train', 'alpha'), ('val', 'charlie'),
                                        ('test', 'delta')])
def test_bands_in_order_on_the_b02_grid(prepared, split, city):
    _, index, height, width = CITIES[city]
    stacks = []
    for date, folder in enumerate('AB'):
        stack, profile, descriptions = read(
            osp.join(prepared, split, folder, f'{city}.tif'))
        assert stack.shape == (13, height, width)  # 20/60 m resampled
        assert stack.dtype == np.uint16
        assert descriptions == oscd.S2_BANDS
        assert profile['crs'] == rasterio.crs.CRS.from_string(CRS)
        assert profile['transform'] == from_origin(*origin(index), 10, 10)
        for k, band in enumerate(oscd.S2_BANDS):
            cols, values = expected_on_grid(band, height, width, date)
            assert (stack[k][:, cols] == values).all(), band
            if RESOLUTION[band] == 10:  # copied bit for bit
                np.testing.assert_array_equal(
                    stack[k], band_values(band, height, width, date))
        stacks.append(stack.astype(int))
    assert (stacks[1] - stacks[0] == DATE_SHIFT).all()  # A is imgs_1


def test_labels_written_as_0_255(prepared):
    for split, city in (('train', 'bravo'), ('test', 'delta')):
        _, index, height, width = CITIES[city]
        label = cv2.imread(osp.join(prepared, split, 'label', f'{city}.png'),
                           cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(label,
                                      change_mask(index, height, width) * 255)


def test_one_two_tif_masks_need_the_threshold(release, prepared, tmp_path):
    code, message = run_prep(release, tmp_path / 'a', '--label-file',
                             'cm/{city}-cm.tif', '--num-val', '1')
    assert code != 0
    assert 'alpha-cm.tif' in message and '--label-threshold' in message
    assert run_prep(release, tmp_path / 'b', '--label-file',
                    'cm/{city}-cm.tif', '--label-threshold', '2',
                    '--num-val', '1')[0] == 0
    for split, city in (('train', 'alpha'), ('val', 'charlie'),
                        ('test', 'delta')):
        name = osp.join(split, 'label', f'{city}.png')
        np.testing.assert_array_equal(
            cv2.imread(str(tmp_path / 'b' / name), cv2.IMREAD_UNCHANGED),
            cv2.imread(osp.join(prepared, name), cv2.IMREAD_UNCHANGED))


def test_tiles_exact_count_and_georeferencing(release, prepared, tmp_path):
    out = tmp_path / 'tiles'
    files = load_tool('prepare_oscd').main(
        [release, str(out), '--num-val', '1', '--tile-size', '32'])
    # 60 x 60: windows at 0 and 28 per side; delta 60 x 90: x at 0, 32, 58.
    assert files == dict(train=8, val=4, test=6)
    assert sorted(os.listdir(out)) == ['test', 'train', 'val']  # no temp
    names = sorted(os.listdir(out / 'test' / 'A'))
    assert names == sorted(f'delta_y{y}_x{x}.tif' for y in (0, 28)
                           for x in (0, 32, 58))
    assert len(os.listdir(out / 'test' / 'label')) == 6
    whole, _, _ = read(osp.join(prepared, 'test', 'B', 'delta.tif'))
    tile, profile, _ = read(str(out / 'test' / 'B' / 'delta_y28_x58.tif'))
    np.testing.assert_array_equal(tile, whole[:, 28:60, 58:90])
    x0, y0 = origin(3)
    assert profile['transform'] == from_origin(x0 + 580, y0 - 280, 10, 10)
    assert profile['crs'] == rasterio.crs.CRS.from_string(CRS)
    label = cv2.imread(str(out / 'test' / 'label' / 'delta_y28_x58.png'),
                       cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(
        label, change_mask(3, 60, 90)[28:60, 58:90] * 255)


def test_band_subset_order_and_val_cities(release, tmp_path):
    out = tmp_path / 'rgbn'
    bands = ['B04', 'B03', 'B02', 'B8A']
    assert load_tool('prepare_oscd').main(
        [release, str(out), '--bands', *bands, '--val-cities', 'alpha',
         '--splits', 'train', 'val']) == dict(train=2, val=1)
    train = sorted(os.listdir(out / 'train' / 'A'))
    assert train == ['bravo.tif', 'charlie.tif']
    stack, _, descriptions = read(str(out / 'val' / 'A' / 'alpha.tif'))
    assert descriptions == tuple(bands)
    assert [int(v) // 1000 for v in stack[:, 30, 30]] == [
        oscd.S2_BANDS.index(b) + 1 for b in bands]


def test_stats_lines(release, prepared, tmp_path, capsys):
    load_tool('prepare_oscd').main(
        [release, str(tmp_path / 's'), '--num-val', '1', '--stats',
         '--splits', 'train'])
    printed = capsys.readouterr().out
    values = {}
    for name in ('band_mean_dn', 'band_std_dn'):
        line = re.search(rf'^{name} = \[(.*)\]$', printed, re.M).group(1)
        values[name] = np.array([float(v) for v in line.split(',')])
    pixels = np.concatenate([
        read(osp.join(prepared, 'train', d, f'{c}.tif'))[0].reshape(13, -1)
        for c in ('alpha', 'bravo') for d in 'AB'], axis=1).astype(float)
    np.testing.assert_allclose(values['band_mean_dn'], pixels.mean(1),
                               atol=1e-3)
    np.testing.assert_allclose(values['band_std_dn'], pixels.std(1),
                               atol=1e-3)
    assert '2 cities, both dates, 14400 pixels' in printed
    assert 'data_preprocessor = dict(mean=[' in printed
    assert 'model = dict(data_preprocessor=data_preprocessor)' in printed


def test_missing_files_and_bad_sources(tmp_path):
    src = make_release(str(tmp_path / 'r'), skip={
        osp.join('bravo', 'imgs_2_rect', 'B8A.tif')})
    code, message = run_prep(src, tmp_path / 'o')
    assert code != 0 and 'bravo' in message and 'imgs_2_rect' in message
    assert 'band B8A' in message
    assert not osp.exists(tmp_path / 'o' / 'train')  # nothing written
    code, message = run_prep(src, osp.join(src, 'out'))
    assert 'inside the source' in message or 'lies inside' in message
    code, message = run_prep(tmp_path / 'nothing', tmp_path / 'o2')
    assert code != 0 and 'not found' in message
    code, message = run_prep(src, tmp_path / 'o3', '--stats', '--splits',
                             'test')
    assert code != 0 and 'add train to --splits' in message


def test_mask_of_another_size_is_refused(tmp_path):
    src = make_release(str(tmp_path / 'r'), cities=dict(
        alpha=CITIES['alpha'], bravo=CITIES['bravo'], delta=CITIES['delta']))
    mask = osp.join(src, oscd.LABELS_DIRS['train'], 'bravo', 'cm', 'cm.png')
    cv2.imwrite(mask, np.zeros((50, 60), np.uint8))
    code, message = run_prep(src, tmp_path / 'o', '--num-val', '0')
    assert code != 0 and mask in message and '60x50' in message


def test_masks_the_label_rule_would_misread(tmp_path):
    grey = tmp_path / 'ones.png'
    cv2.imwrite(str(grey), np.ones((6, 6), np.uint8))  # 1/2 TIF: no change
    with pytest.raises(DatasetError, match='--label-threshold 2'):
        oscd.check_mask_convention(cv2.imread(str(grey), -1), str(grey),
                                   None)
    rgba = np.full((6, 6, 4), 255, np.uint8)
    rgba[:3, :, :3] = 0
    with pytest.raises(DatasetError, match='alpha'):
        oscd.check_mask_convention(rgba, 'cm.png', 128)
    oscd.check_mask_convention(np.array([[0, 255]], np.uint8), 'cm.png',
                               None)


def test_tile_larger_than_a_city_is_refused(release, tmp_path):
    code, message = run_prep(release, tmp_path / 'o', '--tile-size', '64')
    assert code != 0 and 'B02.tif is 60x60' in message
    assert '--tile-size of at most 60' in message
    assert not [n for n in os.listdir(tmp_path / 'o')
                if n.startswith('.oscd-full')]  # temporary folder removed


def test_band_without_georeferencing_read_onto_the_grid(tmp_path):
    path = str(tmp_path / 'b05.tif')
    band = band_values('B05', 60, 60, 0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore',
                              rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, 'w', driver='GTiff', height=30, width=30,
                           count=1, dtype='uint16') as d:
            d.write(band, 1)
    grid = oscd.Grid('B02.tif', 60, 60, None, rasterio.Affine.identity(),
                     None, 'uint16')
    out = oscd.read_band(path, grid)
    cols, values = expected_on_grid('B05', 60, 60, 0)
    assert out.shape == (60, 60) and (out[:, cols] == values).all()


# ------------------------------------------------------------- config
def test_oscd_config_reads_13_bands_everywhere():
    cfg = Config.fromfile(CONFIG)
    assert cfg.model.backbone.in_channels == 13
    assert cfg.model.backbone_inchannels == 13
    pre = cfg.model.data_preprocessor
    assert len(pre.mean) == len(pre.std) == 26 and pre.bgr_to_rgb is False
    assert pre.mean[:13] == pre.mean[13:]
    np.testing.assert_allclose(pre.mean[1], 1390.78157673 / 257)  # B02
    assert cfg.bands == list(oscd.S2_BANDS)
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        assert (dataset.img_suffix, dataset.seg_map_suffix) == ('.tif',
                                                                '.png')
        assert dataset.pipeline[0] == dict(type='CDLoadImagePair',
                                           channels=13, max_value=65535)


# ------------------------------------------------------------- model tools
def tiny_options():
    """--cfg-options that shrink the OSCD run to seconds."""
    return [
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'train_dataloader.dataset.pipeline.2.crop_size=(32,32)',
        'default_hooks.logger.interval=1',
        'model.decode_head.channels=8',
    ]


def run_tool(*args):
    result = subprocess.run([sys.executable, *map(str, args)], cwd=REPO,
                            capture_output=True, text=True, timeout=900,
                            env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert result.returncode == 0, result.stdout[-3000:] + \
        result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.fixture(scope='module')
def checkpoint(prepared, tmp_path_factory):
    work = tmp_path_factory.mktemp('oscd-work')
    log = run_tool('tools/train.py', CONFIG, '--work-dir', work,
                   '--data-root', prepared, '--iters', '2', '--cfg-options',
                   *tiny_options())
    assert f'train data root: {prepared}' in log
    ckpt = work / 'iter_2.pth'
    assert ckpt.is_file()
    return str(ckpt)


@pytest.mark.needs_torchvision  # trains an open-cd model
def test_train_and_test_13_band_pairs(prepared, checkpoint, tmp_path):
    log = run_tool('tools/test.py', CONFIG, checkpoint, '--work-dir',
                   tmp_path, '--data-root', prepared, '--cfg-options',
                   *tiny_options())
    for key in ('precision', 'recall', 'F1', 'IoU'):
        assert key in log
    assert re.search(r'F1: [\d.]+', log), log[-2000:]


@pytest.mark.needs_torchvision  # builds an open-cd model
def test_predict_keeps_georeferencing(prepared, checkpoint, tmp_path):
    img1, img2 = (osp.join(prepared, 'test', d, 'delta.tif') for d in 'AB')
    out = tmp_path / 'change.tif'
    run_tool('tools/predict.py', CONFIG, checkpoint, '--img1', img1,
             '--img2', img2, '--out', out, '--max-value', '65535',
             '--window', '64', '--cfg-options', 'model.decode_head.channels=8',
             '--no-progress')
    with rasterio.open(img1) as src, rasterio.open(out) as pred:
        assert pred.crs == src.crs
        assert pred.transform == src.transform
        assert (pred.height, pred.width) == (src.height, src.width)
        mask = pred.read(1)
    assert set(np.unique(mask)) <= {0, 1}
