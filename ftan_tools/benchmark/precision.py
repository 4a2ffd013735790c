"""float32 and bfloat16 side by side, timed in alternation in one process
(``tools/benchmark.py precision``).

Training step (forward with loss, backward, AdamW step) of the reference
compute pattern in float32, the fast pattern in float32 and the fast
pattern under bfloat16 autocast (what ``tools/train.py --amp`` runs on a CPU
with native bfloat16); whole-image inference of the fast pattern in float32
and with ``amp=True`` (encoder under autocast, decoder in float32: what
``FTANInferencer(..., amp=True)`` runs). All variants share the same seeded
weights. Peak memory is measured per variant in a separate pass.
"""
import contextlib
import json
import os
import os.path as osp
from typing import Callable, Dict

import numpy as np
import torch

from ftan_opencd.apis.inference import window_probability
from ftan_opencd.utils.precision import amp_dtype, cpu_bf16_flags
from .measure import (interleaved_timing, make_train_step, peak_memory_mb,
                      reset_peak_memory, timed_call)
from .report import machine_info, machine_line
from .zoo import build_model


def inference_fn(model: torch.nn.Module, size: int, amp) -> Callable:
    """One whole-image window of ``size`` through :func:`window_probability`
    (the API's code path), on a fixed random pair."""
    model.eval()
    channels = 2 * model.backbone_inchannels
    batch = np.random.default_rng(0).uniform(
        0, 255, (1, size, size, channels)).astype(np.float32)
    return lambda: window_probability(model, batch, amp)


def inference_parts(model: torch.nn.Module, size: int, device: torch.device,
                    dtype: torch.dtype) -> Dict:
    """Seconds of the encoder (``extract_feat``) and of the decode head of
    one whole-image pass, in float32 and under ``dtype`` autocast: where
    the inference time goes, and what autocast can gain there."""
    model.eval()
    x = torch.rand(1, 2 * model.backbone_inchannels, size, size,
                   device=device) * 2 - 1
    metas = [dict(img_shape=(size, size), pad_shape=(size, size),
                  ori_shape=(size, size))]
    parts = {}
    with torch.no_grad():
        for name, amp in (('float32', None), ('bf16', dtype)):
            context = torch.autocast(device.type, dtype=amp) if amp \
                else contextlib.nullcontext()
            with context:
                feats = []
                parts[f'encoder {name}'] = timed_call(
                    lambda: feats.append(model.extract_feat(x)), device)
                parts[f'decode head {name}'] = timed_call(
                    lambda: model.decode_head.predict(
                        list(feats[0]), metas, model.test_cfg), device)
    return parts


def peak_mb(fn: Callable, device: torch.device) -> float:
    """Peak memory of one call of ``fn`` above the memory in use before."""
    base = reset_peak_memory(device)['baseline_mb']
    fn()
    return peak_memory_mb(device) - base


def measure(fns: Dict[str, Callable], device: torch.device, warmup: int,
            repeats: int) -> Dict:
    """Interleaved median times and per-variant peak memory."""
    timing = interleaved_timing(fns, device, warmup, repeats)
    for name, fn in fns.items():
        timing[name]['peak_mb'] = peak_mb(fn, device)
    return timing


def run_precision(args, command: str) -> Dict:
    """Measure, print and write ``precision.json`` / ``precision.md``."""
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = amp_dtype(args.device)
    fast = build_model(args.model, 'fast', args.device, args.seed)
    reference = build_model(args.model, 'reference', args.device, args.seed,
                            state_dict=fast.state_dict())
    train = measure(
        {
            'reference float32': make_train_step(reference, args.batch,
                                                 args.size, device, False),
            'fast float32': make_train_step(fast, args.batch, args.size,
                                            device, False),
            'fast bf16': make_train_step(fast, args.batch, args.size, device,
                                         'bf16'),
        }, device, args.warmup, args.repeats)
    del reference
    infer = measure(
        {
            'float32': inference_fn(fast, args.large, None),
            'amp': inference_fn(fast, args.large, dtype or torch.bfloat16),
        }, device, 0, args.large_repeats)
    parts = inference_parts(fast, args.large, device,
                            dtype or torch.bfloat16)
    report = dict(command=command, machine=machine_info(args.device),
                  bf16_flags=list(cpu_bf16_flags()),
                  settings=vars(args), train=train, infer=infer,
                  infer_parts=parts)
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, 'precision.json'), 'w') as f:
        json.dump(report, f, indent=1, default=str)
    text = markdown(report)
    with open(osp.join(args.out, 'precision.md'), 'w') as f:
        f.write(text)
    print(text)
    return report


def markdown(report: Dict) -> str:
    """The report as Markdown tables with the ratios."""
    s, train, infer = report['settings'], report['train'], report['infer']
    flags = ', '.join(report['bf16_flags']) or 'none (no native bfloat16)'
    ref = train['reference float32']['median_s']
    lines = [
        f'`{report["command"]}`', '',
        'Machine: ' + machine_line(report['machine']), '',
        f'Native bfloat16 flags: {flags}', '',
        f'Training step, {s["model"]}, batch {s["batch"]} at {s["size"]}², '
        'median of the interleaved rounds:', '',
        '| variant | s / step | vs reference float32 | peak MB |',
        '|---|---|---|---|',
    ]
    for name, t in train.items():
        lines.append(f'| {name} | {t["median_s"]:.2f} | '
                     f'{ref / t["median_s"]:.2f}x | {t["peak_mb"]:.0f} |')
    f32 = infer['float32']['median_s']
    lines += [
        '', f'Whole-image inference at {s["large"]}² (FTANInferencer path):',
        '', '| variant | s | vs float32 | peak MB |', '|---|---|---|---|'
    ]
    for name, t in infer.items():
        lines.append(f'| {name} | {t["median_s"]:.2f} | '
                     f'{f32 / t["median_s"]:.2f}x | {t["peak_mb"]:.0f} |')
    lines += ['', f'Where the {s["large"]}² inference time goes (one pass '
              'each; `amp` above runs the encoder in bf16, the head in '
              'float32):', '', '| part | s |', '|---|---|']
    lines += [f'| {name} | {sec:.2f} |'
              for name, sec in report['infer_parts'].items()]
    return '\n'.join(lines) + '\n'
