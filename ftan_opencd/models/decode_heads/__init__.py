from .ftan_head import FTANHead
from .iam import IAM

__all__ = ['FTANHead', 'IAM']
