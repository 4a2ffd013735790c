"""FTAN encoder sizes: the SegNeXt MSCAN widths, depths and MLP ratios.

One home for the table that ``FTANBackbone`` builds from and that the MSCAN
weight loader names checkpoints by.
"""

ARCH_SETTINGS = {
    't': dict(embed_dims=[32, 64, 160, 256], depths=[3, 3, 5, 2],
              mlp_ratios=[8, 8, 4, 4]),
    's': dict(embed_dims=[64, 128, 320, 512], depths=[2, 2, 4, 2],
              mlp_ratios=[8, 8, 4, 4]),
    'b': dict(embed_dims=[64, 128, 320, 512], depths=[3, 3, 12, 3],
              mlp_ratios=[8, 8, 4, 4]),
    'l': dict(embed_dims=[64, 128, 320, 512], depths=[3, 5, 27, 3],
              mlp_ratios=[8, 8, 4, 4]),
}
