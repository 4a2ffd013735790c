from .ftan_head import FTANHead
from .head_keys import convert_head_keys
from .iam import IAM

__all__ = ['FTANHead', 'IAM', 'convert_head_keys']
