# FTAN-S (SegNeXt-S shaped MCFA encoder) for tools/benchmark.py.
_base_ = ['./ftan-b.py']
model = dict(backbone=dict(arch='s'))
