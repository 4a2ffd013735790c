# Ablation row "MCFA only": MCFA encoder, ChangeFormer-V6 decoder (no IAM).
_base_ = '../ftan-b_256x256_200e_levircd.py'
model = dict(decode_head=dict(with_iam=False))
