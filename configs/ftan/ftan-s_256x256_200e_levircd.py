# FTAN-S (SegNeXt-S shaped MCFA encoder) with the paper's LEVIR-CD recipe.
_base_ = './ftan-b_256x256_200e_levircd.py'
model = dict(backbone=dict(arch='s'))
