"""torch.profiler view of one model's training step."""
import json
import os
import os.path as osp
from typing import Dict, List

import torch
from torch.profiler import ProfilerActivity, profile

from .measure import make_train_step
from .zoo import build_model

TOP_OPS = 15


def profile_train_step(name: str, batch: int, size: int, device: str,
                       amp: bool, warmup: int, steps: int,
                       out_dir: str) -> List[Dict]:
    """Profile ``steps`` training steps of ``name`` after ``warmup`` ones.

    Prints the top :data:`TOP_OPS` operators by self time (CUDA time on a
    GPU, CPU time otherwise), also grouped by input shapes, and writes them
    to ``out_dir`` as ``profile_<name>.txt`` (the profiler's tables) and
    ``.json``.

    Returns:
        list[dict]: The top operators: ``op``, ``calls``, ``self_s``,
        ``self_pct`` (share of the total self time) and ``total_s``.
    """
    dev = torch.device(device)
    step = make_train_step(build_model(name, device=device), batch, size,
                           dev, amp)
    for _ in range(warmup):
        step()
    activities = [ProfilerActivity.CPU]
    if dev.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities, record_shapes=True) as prof:
        for _ in range(steps):
            step()
        if dev.type == 'cuda':
            torch.cuda.synchronize(dev)
    key = 'self_cuda_time_total' if dev.type == 'cuda' else \
        'self_cpu_time_total'
    events = prof.key_averages()
    table = events.table(sort_by=key, row_limit=TOP_OPS)
    by_shape = prof.key_averages(group_by_input_shape=True).table(
        sort_by=key, row_limit=TOP_OPS)
    print(table)
    print(by_shape)
    total = sum(getattr(e, key) for e in events) or 1
    top = [
        dict(op=e.key, calls=e.count, self_s=getattr(e, key) / 1e6 / steps,
             self_pct=100.0 * getattr(e, key) / total,
             total_s=(e.cuda_time_total if dev.type == 'cuda' else
                      e.cpu_time_total) / 1e6 / steps)
        for e in sorted(events, key=lambda e: -getattr(e, key))[:TOP_OPS]
    ]
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, f'profile_{name}.txt'), 'w') as f:
        f.write(f'{table}\n\nGrouped by input shapes:\n{by_shape}')
    with open(osp.join(out_dir, f'profile_{name}.json'), 'w') as f:
        json.dump(dict(model=name, batch=batch, size=size, device=device,
                       amp=amp, steps=steps, sort_by=key, top=top), f,
                  indent=1)
    return top
