from .fdm_ac import FDMAC, fdm_ac_lowpass, fdm_ac_reference
from .ftan_backbone import FTANBackbone
from .mcfa import MCFA, PartialConv

__all__ = [
    'FDMAC', 'FTANBackbone', 'MCFA', 'PartialConv', 'fdm_ac_lowpass',
    'fdm_ac_reference'
]
