# Same model and training as the paper-recipe config; validation and test
# run on the whole 1024 x 1024 images (not what the paper measured).
_base_ = './ftan-b_256x256_200e_levircd.py'
model = dict(test_cfg=dict(_delete_=True, mode='whole'))
