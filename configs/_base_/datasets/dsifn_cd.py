# DSIFN-CD with the FTAN paper's protocol: the 512 x 512 release cut into
# 256 x 256 tiles (14400 / 1360 / 192) by
#   python tools/prepare_dsifn.py data/DSIFN-CD data/DSIFN-CD256
# Training, validation and test all use the tiles; the pipelines are the
# LEVIR-CD paper pipelines.
_base_ = './levir_cd.py'
data_root = 'data/DSIFN-CD256'
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root))
