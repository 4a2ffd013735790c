# FTAN-B on LEVIR-CD started from SegNeXt's ImageNet-1k MSCAN-B weights
# (mmseg's SegNeXt model zoo). Everything else is the paper recipe of
# ftan-b_256x256_200e_levircd.py. The MSCAN weights fill the encoder except
# FDM-AC and PConv, which keep the reference initialisation; the decoder is
# trained from scratch. Offline: download the file once and set
# model.backbone.init_cfg.checkpoint to the local path.
_base_ = ['./ftan-b_256x256_200e_levircd.py']
mscan_checkpoint = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segnext/mscan_b_20230227-3ab7d230.pth'  # noqa
# The statistics SegNeXt was pretrained with (ImageNet, RGB on 0..255), for
# both dates; bgr_to_rgb=True (from the base) hands MSCAN R, G, B.
imagenet_mean = [123.675, 116.28, 103.53]
imagenet_std = [58.395, 57.12, 57.375]
data_preprocessor = dict(mean=imagenet_mean * 2, std=imagenet_std * 2)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        # MSCAN's LayerNorm eps (FTAN's default is 1e-6): with FDM-AC and
        # PConv off the encoder is then exactly the pretrained MSCAN.
        stage_norm_cfg=dict(type='LN', eps=1e-5),
        init_cfg=dict(type='Pretrained', checkpoint=mscan_checkpoint)))
