# FTAN-T (SegNeXt-T shaped MCFA encoder) for tools/benchmark.py.
_base_ = ['./ftan-b.py']
model = dict(
    backbone=dict(arch='t'),
    decode_head=dict(in_channels=[32, 64, 160, 256]))
