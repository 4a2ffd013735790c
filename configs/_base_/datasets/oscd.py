# OSCD (Onera Satellite Change Detection, Daudt et al., IGARSS 2018): 24
# Sentinel-2 L1C city pairs (14 train, 10 test), 13 bands on the 10 m grid,
# images of about 600 x 600, written by
#   python tools/prepare_oscd.py data/OSCD-release data/OSCD13
# as data/OSCD13/{train,val,test}/{A,B}/<city>.tif (13-band uint16 GeoTIFF,
# bands in the order below) and {train,val,test}/label/<city>.png (0/255).
# open-cd's OpenCV loader reads at most 4 bands, so the test pipeline loads
# with CDLoadImagePair too (ftan_opencd/pixels.py reads GeoTIFFs with
# rasterio, every band in file order).
_base_ = './levir_cd.py'
data_root = 'data/OSCD13'

# Band order of the files (tools/prepare_oscd.py's default --bands).
bands = ['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A',
         'B09', 'B10', 'B11', 'B12']
num_bands = 13
# Values are stored as uint16 reflectance x 10000. L1C values pass 10000 on
# bright targets (clouds, snow) and the loader refuses values above
# max_value, so the full uint16 range is declared: the model sees
# value * 255 / 65535 (what predict.py --max-value 65535 gives too).
max_value = 65535
# Per-band mean and standard deviation of Sentinel-2 L1C (values as stored,
# order B01..B08, B8A, B09..B12): the S2C_MEAN / S2C_STD statistics of
# SSL4EO-S12 (Wang et al., 2022; 250k locations x 4 seasons worldwide,
# computed on 50k patches; github.com/zhu-xlab/SSL4EO-S12,
# src/benchmark/pretrain_ssl/datasets/SSL4EO/ssl4eo_dataset.py). For the
# statistics of your own train split: tools/prepare_oscd.py ... --stats.
band_mean_dn = [
    1605.57504906, 1390.78157673, 1314.8729939, 1363.52445545,
    1549.44374991, 2091.74883118, 2371.7172463, 2299.90463006,
    2560.29504086, 830.06605044, 22.10351321, 2177.07172323, 1524.06546312
]
band_std_dn = [
    786.78685367, 850.34818441, 875.06484736, 1138.84957046, 1122.17775652,
    1161.59187054, 1274.39184232, 1248.42891965, 1345.52684884,
    577.31607053, 51.15431158, 1336.09932639, 1136.53823676
]
# The data preprocessor's mean / std: both dates (t1 then t2), model units.
pair_mean = [v * 255 / max_value for v in band_mean_dn] * 2
pair_std = [v * 255 / max_value for v in band_std_dn] * 2

# Random 96 x 96 crops (the patch size of Daudt et al.), flips and 90-degree
# rotations: numpy slicing only. No photometric augmentation (it assumes 3
# colour channels) and no MultiImgPad (OpenCV pads at most 4 channels); a
# smaller image is padded by the data preprocessor (pad 0, label 255).
crop_size = (96, 96)
train_pipeline = [
    dict(type='CDLoadImagePair', channels=num_bands, max_value=max_value),
    dict(type='CDLoadChangeLabel'),
    dict(type='MultiImgRandomCrop', crop_size=crop_size),
    dict(type='MultiImgRandomFlip', prob=0.5, direction='horizontal'),
    dict(type='MultiImgRandomFlip', prob=0.5, direction='vertical'),
    # rotate_prob=0: only the rot90 + flip branch (no interpolation).
    dict(type='MultiImgRandomRotFlip', rotate_prob=0.0, flip_prob=0.5),
    dict(type='MultiImgPackSegInputs')
]
test_pipeline = [
    dict(type='CDLoadImagePair', channels=num_bands, max_value=max_value),
    dict(type='CDLoadChangeLabel'),
    dict(type='MultiImgPackSegInputs')
]

# The LEVIR-CD layout and loaders of levir_cd.py, with 13-band GeoTIFFs.
suffixes = dict(img_suffix='.tif', seg_map_suffix='.png')
train_dataloader = dict(
    batch_size=16,
    dataset=dict(data_root=data_root, pipeline=train_pipeline, **suffixes))
val_dataloader = dict(
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=test_pipeline, **suffixes))
test_dataloader = val_dataloader
