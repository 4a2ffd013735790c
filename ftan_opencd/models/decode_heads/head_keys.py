"""FTANHead state-dict keys from before 0.1.0's ConvModule layout."""
import re
from collections import OrderedDict
from typing import Dict, Mapping

from torch import Tensor

# (old key pattern, new key template) after the head's prefix; ``{norm}`` is
# the norm layer's name inside the fusion ConvModule.
RENAMES = [
    (r'linears\.(\d+)\.(weight|bias)', r'linears.\1.conv.\2'),
    (r'(diffs|side_preds)\.(\d+)\.0\.(weight|bias)', r'\1.\2.0.conv.\3'),
    (r'(diffs|side_preds)\.(\d+)\.2\.(\w+)', r'\1.\2.1.\3'),
    (r'(diffs|side_preds)\.(\d+)\.3\.(weight|bias)', r'\1.\2.2.conv.\3'),
    (r'fuse\.0\.weight', r'fuse.0.conv.weight'),
    (r'fuse\.1\.(\w+)', r'fuse.0.{norm}.\1'),
    (r'(res[12])\.(conv[12])\.(weight|bias)', r'\1.\2.conv.\3'),
]
OLD_FUSE_BIAS = 'fuse.0.bias'
OLD_FUSE_MEAN = 'fuse.1.running_mean'


def convert_head_keys(state_dict: Mapping[str, Tensor],
                      prefix: str = 'decode_head.',
                      norm_name: str = 'bn') -> Dict[str, Tensor]:
    """Map an FTANHead state dict of the raw-conv layout to the ConvModule
    layout of 0.1.0, so that it loads with ``strict=True``.

    Keys are renamed as CHANGELOG.md lists; the old fusion conv's bias,
    which the new conv (followed by batch norm) does not have, is folded
    into the norm's running mean: ``BN(Wx + b)`` with mean ``mu`` equals
    ``BN(Wx)`` with mean ``mu - b``, in eval mode exactly and in training
    mode because batch statistics remove ``b``. Keys of the new layout and
    keys outside ``prefix`` are kept as they are.

    Args:
        state_dict (Mapping[str, Tensor]): A model's (or the head's) state
            dict.
        prefix (str): Where the head's keys start: ``'decode_head.'`` for a
            change detector's checkpoint (default), ``''`` for the head's
            own state dict.
        norm_name (str): The name mmcv gives the head's norm layer inside a
            ``ConvModule``: ``'bn'`` for ``BN`` / ``SyncBN`` (default),
            ``'gn'`` for ``GN``, ``'ln'`` for ``LN``, ``'in'`` for ``IN``.

    Returns:
        dict: The state dict under the new key names, in the same order.

    Raises:
        ValueError: If the old fusion bias cannot be folded because the
            state dict has no running mean for it (a norm without running
            statistics, or a truncated state dict).
    """
    bias_key = prefix + OLD_FUSE_BIAS
    converted = OrderedDict(
        (_new_key(key, prefix, norm_name), value)
        for key, value in state_dict.items() if key != bias_key)
    if bias_key in state_dict:
        mean_key = prefix + OLD_FUSE_MEAN
        if mean_key not in state_dict:
            raise ValueError(
                f'convert_head_keys: {bias_key} has no {mean_key} to be '
                'folded into (the new fusion conv has no bias); convert a '
                'state dict of a head with batch norm, or drop the bias '
                'and retrain')
        new_mean = f'{prefix}fuse.0.{norm_name}.running_mean'
        converted[new_mean] = state_dict[mean_key] - state_dict[bias_key]
    return converted


def _new_key(key: str, prefix: str, norm_name: str) -> str:
    """``key`` under its 0.1.0 name (itself where no rename applies)."""
    if not key.startswith(prefix):
        return key
    name = key[len(prefix):]
    for pattern, template in RENAMES:
        if re.fullmatch(pattern, name):
            return prefix + re.sub(pattern, template, name).format(
                norm=norm_name)
    return key
