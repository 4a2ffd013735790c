"""Measure one model in a fresh process (run by :mod:`.runner`).

    python -m ftan_tools.benchmark.worker SPEC.json RESULT.json

``SPEC.json`` names the model, its variant, the device and the list of
tasks (``complexity``, ``train``, ``infer``); ``RESULT.json`` is rewritten
after every task, so a crash (e.g. the OOM killer) keeps what came before.
For the ``reference`` variant the fast model is built first and its state
dict loaded into the reference model, and the two are compared
(:func:`agreement`).
"""
import json
import os
import sys
import traceback
from typing import Dict, List

import torch

from ftan_opencd.models.backbones.fdm_ac import FDMAC
from ftan_opencd.models.decode_heads.iam import NonLocalBlock
from .complexity import complexity_info
from .measure import (MB, inference_timing, interleaved_timing,
                      make_inference, make_train_step, random_batch,
                      train_step_timing)
from .zoo import build_model

# Fraction of the free memory that an estimated allocation may take.
MEMORY_HEADROOM = 0.8
# Modules whose fast and reference implementations differ: the submodule
# whose input is the result of the differing computation, and its label.
COMPARED_MODULES = (
    (FDMAC, 'proj', 'fdm_magnitude'),
    (NonLocalBlock, 'out_project', 'attention_context'),
)


def available_memory_mb(device: torch.device) -> float:
    """Free memory of ``device`` (``MemAvailable`` on the CPU), in MiB."""
    if device.type == 'cuda':
        return torch.cuda.mem_get_info(device)[0] / MB
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemAvailable:'):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError('MemAvailable not found in /proc/meminfo')


def attention_map_mb(batch: int, size: int, train: bool) -> float:
    """Memory of the reference IAM's materialised N x N attention maps.

    The IAM works at H/4, so ``N = (size / 4) ** 2``. Inference holds two
    float32 maps at once (scores and softmax); training also keeps one map
    per attention block for backward and their gradients: about four.
    """
    tokens = (size // 4)**2
    return (4 if train else 2) * batch * tokens**2 * 4 / MB


def memory_guard(spec: Dict, task: Dict, device: torch.device) -> Dict:
    """A skip record when the reference variant would not fit, else {}."""
    if spec['variant'] != 'reference' or task['task'] == 'complexity':
        return {}
    train = task['task'] == 'train'
    need = attention_map_mb(task.get('batch', 1), task['size'], train)
    free = available_memory_mb(device)
    if need <= MEMORY_HEADROOM * free:
        return {}
    return dict(
        skipped=(f'the reference IAM would materialise about {need:.0f} MiB '
                 f'of attention maps, more than {MEMORY_HEADROOM:.0%} of the '
                 f'{free:.0f} MiB available'),
        estimated_mb=need,
        available_mb=free)


def _record_inputs(model: torch.nn.Module, store: Dict) -> List:
    """Record, per entry of :data:`COMPARED_MODULES`, the input of its
    submodule into ``store[label]``; returns the hook handles."""
    handles = []
    for module in model.modules():
        for kind, child, label in COMPARED_MODULES:
            if isinstance(module, kind):
                handles.append(
                    getattr(module, child).register_forward_hook(
                        lambda m, args, out, label=label: store.setdefault(
                            label, []).append(args[0].detach().float())))
    return handles


def agreement(fast: torch.nn.Module, reference: torch.nn.Module, size: int,
              device: torch.device) -> Dict:
    """Compare the fast and reference models on one input.

    Besides the logits, the results of the two differing computations are
    compared where they happen (every FDM-AC magnitude, every IAM attention
    context), because with the random initialisation their contributions to
    the logits can vanish below float32 resolution.

    Returns:
        dict: Logit differences (``max_abs_diff``, ``mean_abs_diff``,
        ``max_abs_logit``, ``argmax_agreement``) and ``components``:
        ``fdm_magnitude`` and ``attention_context`` with ``calls``,
        ``max_abs_diff`` and ``max_abs_value``.
    """
    inputs, _ = random_batch(1, size, device, seed=1)
    outputs = []
    for model in (fast, reference):
        store: Dict = {}
        handles = _record_inputs(model, store)
        model.eval()
        with torch.no_grad():
            logits = model(inputs, mode='tensor').float()
        for handle in handles:
            handle.remove()
        outputs.append((logits, store))
    (a, store_a), (b, store_b) = outputs
    components = {
        kind: dict(
            calls=len(store_a[kind]),
            max_abs_diff=max(float((x - y).abs().max())
                             for x, y in zip(store_a[kind], store_b[kind])),
            max_abs_value=max(float(x.abs().max()) for x in store_a[kind]))
        for kind in store_a
    }
    return dict(
        size=size,
        max_abs_diff=float((a - b).abs().max()),
        mean_abs_diff=float((a - b).abs().mean()),
        max_abs_logit=float(a.abs().max()),
        argmax_agreement=float((a.argmax(1) == b.argmax(1)).float().mean()),
        components=components)


def interleaved_comparison(fast: torch.nn.Module,
                           reference: torch.nn.Module, spec: Dict,
                           device: torch.device) -> Dict:
    """Fast and reference timed in alternation (:func:`interleaved_timing`):
    the training step and the inference at ``spec['interleave']['size']``.

    Returns:
        dict: Per task (``train``, ``infer_<size>``), the timings of
        ``fast`` and ``reference`` and ``speedup`` (reference / fast
        median).
    """
    size, batch = spec['interleave']['size'], spec['interleave']['batch']
    amp = spec['amp']
    tasks = {
        'train': {
            variant: make_train_step(model, batch, size, device, amp)
            for variant, model in (('fast', fast), ('reference', reference))
        },
        f'infer_{size}': {
            variant: make_inference(model, size, device, amp)
            for variant, model in (('fast', fast), ('reference', reference))
        },
    }
    result = {}
    for key, fns in tasks.items():
        timing = interleaved_timing(fns, device, spec['warmup'],
                                    spec['repeats'])
        timing['speedup'] = (timing['reference']['median_s'] /
                             timing['fast']['median_s'])
        result[key] = timing
    return dict(result, size=size, batch=batch)


def run_task(model: torch.nn.Module, spec: Dict, task: Dict,
             device: torch.device) -> Dict:
    """Run one task and return its record."""
    skip = memory_guard(spec, task, device)
    if skip:
        return dict(skip, size=task['size'])
    if task['task'] == 'complexity':
        return complexity_info(model, task['size'], device)
    common = dict(device=device, amp=spec['amp'],
                  warmup=task.get('warmup', spec['warmup']),
                  repeats=task.get('repeats', spec['repeats']))
    if task['task'] == 'train':
        return train_step_timing(model, task['batch'], task['size'],
                                 **common)
    if task['task'] == 'infer':
        return inference_timing(model, task['size'], **common)
    raise ValueError(f'unknown task {task["task"]!r}')


def task_key(task: Dict) -> str:
    """Record key of a task: ``complexity``, ``train``, ``infer_<size>``."""
    return f'infer_{task["size"]}' if task['task'] == 'infer' else \
        task['task']


def run(spec: Dict, result_path: str) -> Dict:
    """Build the model of ``spec``, run its tasks, write the results."""
    device = torch.device(spec['device'])
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    result = dict(model=spec['model'], variant=spec['variant'],
                  load_avg=[os.getloadavg()])

    def save():
        with open(result_path, 'w') as f:
            json.dump(result, f, indent=1)

    model = build_model(spec['model'], device=str(device), seed=spec['seed'])
    if spec['variant'] == 'reference':
        fast = model
        model = build_model(spec['model'], 'reference', str(device),
                            spec['seed'], state_dict=fast.state_dict())
        if spec.get('agreement_size'):
            result['agreement'] = agreement(
                fast, model, spec['agreement_size'], device)
        if spec.get('interleave'):
            result['interleaved'] = interleaved_comparison(
                fast, model, spec, device)
            save()
        del fast
    save()
    for task in spec['tasks']:
        try:
            result[task_key(task)] = run_task(model, spec, task, device)
        except Exception as exc:  # recorded, the other tasks still run
            result[task_key(task)] = dict(
                error=f'{type(exc).__name__}: {exc}', size=task['size'])
            traceback.print_exc()
        result['load_avg'].append(os.getloadavg())
        save()
        print(f'{spec["model"]} ({spec["variant"]}): {task_key(task)} done',
              flush=True)
    return result


def main(argv=None) -> None:
    """Entry point: ``worker SPEC.json RESULT.json``."""
    spec_path, result_path = (argv or sys.argv[1:])[:2]
    with open(spec_path) as f:
        spec = json.load(f)
    if spec.get('threads'):
        torch.set_num_threads(spec['threads'])
    run(spec, result_path)


if __name__ == '__main__':
    main()
