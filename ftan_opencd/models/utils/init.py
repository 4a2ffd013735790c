"""Weight initialisation of the reference implementation as ``init_cfg``."""

# Convolutions and linear layers ~ N(0, 0.02), BatchNorm weights ~ N(1, 0.02),
# biases 0 (ChangeFormer's / FTAN's ``init_weights(init_type='normal')``).
REFERENCE_INIT = [
    dict(type='Normal', layer=['Conv2d', 'ConvTranspose2d', 'Linear'],
         std=0.02, bias=0.),
    dict(type='Normal', layer=['BatchNorm2d', 'SyncBatchNorm', '_BatchNorm'],
         mean=1.0, std=0.02, bias=0.),
]
