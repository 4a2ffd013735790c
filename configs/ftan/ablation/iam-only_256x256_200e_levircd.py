# Ablation row "IAM only": ChangeFormer-V6 encoder, decoder with the IAM.
_base_ = './baseline-changeformer-v6_256x256_200e_levircd.py'
model = dict(decode_head=dict(with_iam=True))
