"""Grad-CAM of the backbone stages of a Siamese change detector.

For each requested stage ``s`` and each date, the activation ``A`` (the
backbone's stage output, C x h x w, as fed to the neck) and the gradient
``G`` of a scalar target with respect to it are captured with a forward hook
on the backbone and tensor (backward) hooks on its outputs. The map is
``ReLU(sum_c mean_hw(G_c) * A_c)``, upsampled bilinearly to the image and
scaled to [0, 1] by its maximum.

The target is the sum of the 'changed' logit (channel 1 of a two-class
head, the only channel of a sigmoid head) over the pixels the model itself
predicts as changed; over the whole image when it predicts no change.

:func:`fdm_bypassed` gives the "without FDM-AC" variant of the paper's
Fig. 5 *without retraining*: the same weights with every MCFA's frequency
gate removed, i.e. ``a = DW5x5(x) * FDMAC(x)`` becomes ``a = DW5x5(x)`` (the
gate replaced by 1); everything else, including the layers trained with the
gate, is unchanged.
"""
from contextlib import contextmanager
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..models.backbones.mcfa import MCFA
from .inference import (change_probability, default_threshold,
                        forward_logits, preprocess)


@contextmanager
def fdm_bypassed(model: nn.Module):
    """Temporarily set ``fdm = None`` in every MCFA of ``model``.

    Args:
        model (nn.Module): A model with FTAN's MCFA attention.

    Raises:
        ValueError: The model has no FDM-AC gate to bypass.
    """
    saved = [(m, m.fdm) for m in model.modules()
             if isinstance(m, MCFA) and m.fdm is not None]
    if not saved:
        raise ValueError('the model has no MCFA with an FDM-AC gate '
                         '(with_fdm=False or not an FTAN backbone)')
    try:
        for module, _ in saved:
            module.fdm = None
        yield model
    finally:
        for module, fdm in saved:
            module.fdm = fdm


class StageRecorder:
    """Record the chosen backbone stage outputs and their gradients.

    The backbone runs once per date; call ``k`` of the forward pass is date
    ``k``.

    Args:
        backbone (nn.Module): Backbone returning one map per out index.
        stages (Sequence[int]): Stage indices (must be in ``out_indices``).
    """

    def __init__(self, backbone: nn.Module, stages: Sequence[int]):
        out_indices = list(getattr(backbone, 'out_indices',
                                   range(max(stages) + 1)))
        missing = [s for s in stages if s not in out_indices]
        if missing:
            raise ValueError(f'stages {missing} are not backbone outputs '
                             f'(out_indices={out_indices})')
        self.positions = {s: out_indices.index(s) for s in stages}
        self.activations: List[Dict[int, Tensor]] = []
        self.gradients: List[Dict[int, Tensor]] = []
        self.handle = backbone.register_forward_hook(self._hook)

    def _hook(self, module, args, outputs) -> None:
        acts, grads = {}, {}
        for stage, pos in self.positions.items():
            acts[stage] = outputs[pos]
            outputs[pos].register_hook(
                lambda grad, s=stage: grads.__setitem__(s, grad))
        self.activations.append(acts)
        self.gradients.append(grads)

    def remove(self) -> None:
        """Remove the hook."""
        self.handle.remove()


def _cam(act: Tensor, grad: Tensor, size) -> np.ndarray:
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=size, mode='bilinear',
                        align_corners=False)[0, 0]
    peak = cam.max()
    return (cam / peak if peak > 0 else cam).detach().cpu().numpy()


def stage_gradcam(model: nn.Module,
                  img1: np.ndarray,
                  img2: np.ndarray,
                  stages: Sequence[int] = (0, 1, 2, 3),
                  threshold: Optional[float] = None) -> dict:
    """Grad-CAM maps of backbone stages for both dates (whole image).

    Args:
        model (nn.Module): Siamese change detector (eval mode).
        img1 (np.ndarray): Date 1, float32 or uint8 HxWxC in OpenCV (BGR)
            order on the 0..255 scale (see :mod:`.sources`).
        img2 (np.ndarray): Date 2, same shape.
        stages (Sequence[int]): Backbone stages. Default: all four.
        threshold (float, optional): Change threshold; see
            :class:`~ftan_opencd.apis.FTANInferencer`.

    Returns:
        dict: ``cams`` float32 (2, len(stages), H, W) in [0, 1] (date,
        stage), ``mask`` uint8 (H, W) predicted change, ``target`` the region
        used ('predicted change' or 'whole image').
    """
    if img1.shape != img2.shape:
        raise ValueError(f'img1 {img1.shape} and img2 {img2.shape} differ')
    h, w = img1.shape[:2]
    batch = np.concatenate([img1, img2], axis=2)[None].astype(np.float32)
    inputs = preprocess(model, batch)
    recorder = StageRecorder(model.backbone, stages)
    try:
        with torch.enable_grad():
            logits = forward_logits(model, inputs)
            logits = F.interpolate(logits, size=inputs.shape[2:],
                                   mode='bilinear', align_corners=False)
            logits = logits[:, :, :h, :w]
            prob = change_probability(logits)[0]
            changed = logits[0, -1]
            mask = prob > default_threshold(model, threshold)
            region = mask if bool(mask.any()) else torch.ones_like(mask)
            model.zero_grad(set_to_none=True)
            (changed * region).sum().backward()
    finally:
        recorder.remove()
    model.zero_grad(set_to_none=True)
    cams = np.stack([
        np.stack([
            _cam(recorder.activations[d][s], recorder.gradients[d][s],
                 inputs.shape[2:])[:h, :w] for s in stages
        ]) for d in range(2)
    ])
    return dict(cams=cams.astype(np.float32),
                mask=mask.cpu().numpy().astype(np.uint8),
                target='predicted change' if bool(mask.any()) else
                'whole image')
