"""Timing and peak-memory measurements of one model in the current process.

Peak memory is ``torch.cuda.max_memory_allocated`` on CUDA. On the CPU it is
the peak resident set size of the process (``ru_maxrss``); before each
measurement the kernel's high-water mark is reset (Linux ``clear_refs``) so
that each measurement gets its own peak. Where the reset is not possible the
peak is cumulative over the process and ``peak_reset`` says so.
"""
import contextlib
import ctypes
import gc
import resource
import statistics
import time
from typing import Callable, Dict, List, Optional

import torch
import torch.nn as nn
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

MB = 1024.0**2


def _trim_heap() -> None:
    """Return freed heap memory to the OS (glibc), so RSS drops."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL('libc.so.6').malloc_trim(0)


def _current_rss_mb() -> float:
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / MB


def reset_peak_memory(device: torch.device) -> Dict:
    """Reset the peak-memory counter of ``device``.

    Returns:
        dict: ``baseline_mb`` (memory in use now) and ``peak_reset`` (whether
        the counter could be reset).
    """
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        return dict(baseline_mb=torch.cuda.memory_allocated(device) / MB,
                    peak_reset=True)
    _trim_heap()
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets the RSS high-water mark (ru_maxrss)
        reset = True
    except OSError:
        reset = False
    return dict(baseline_mb=_current_rss_mb(), peak_reset=reset)


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory since the last :func:`reset_peak_memory`, in MiB."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / MB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed_call(fn: Callable[[], None], device: torch.device) -> float:
    """Seconds of one call of ``fn``, with the CUDA queue drained before
    and after."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def time_calls(fn: Callable[[], None], device: torch.device, warmup: int,
               repeats: int) -> Dict:
    """Wall-clock times of ``fn`` after ``warmup`` untimed calls.

    Returns:
        dict: ``median_s``, ``min_s`` and all ``times_s``, plus the memory
        fields of :func:`reset_peak_memory` and ``peak_mb`` (peak over the
        warm-up and the timed calls).
    """
    memory = reset_peak_memory(device)
    for _ in range(warmup):
        fn()
    times = [timed_call(fn, device) for _ in range(repeats)]
    return dict(
        median_s=statistics.median(times),
        min_s=min(times),
        times_s=times,
        peak_mb=peak_memory_mb(device),
        **memory)


AMP_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}


def amp_dtype(device: torch.device, amp) -> Optional[torch.dtype]:
    """The autocast dtype of ``amp``: ``None``/``False`` (off), ``'fp16'``,
    ``'bf16'``, or ``True``/``'auto'`` (float16 on CUDA, bfloat16 on CPU)."""
    if not amp:
        return None
    if amp is True or amp == 'auto':
        return torch.float16 if device.type == 'cuda' else torch.bfloat16
    if amp not in AMP_DTYPES:
        raise ValueError(f'amp must be one of auto, {", ".join(AMP_DTYPES)}; '
                         f'got {amp!r}')
    return AMP_DTYPES[amp]


def autocast_context(device: torch.device, amp):
    """Mixed precision in the dtype of :func:`amp_dtype`, or a no-op."""
    dtype = amp_dtype(device, amp)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def random_batch(batch: int, size: int, device: torch.device,
                 seed: int = 0):
    """Normalised bitemporal inputs (B, 6, H, W) and change labels.

    Returns:
        tuple: ``inputs`` and a list of ``SegDataSample`` with
        ``gt_sem_seg`` (about 10 % changed pixels) and image metainfo.
    """
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch, 6, size, size, generator=gen).to(device)
    samples = []
    for _ in range(batch):
        label = (torch.rand(1, size, size, generator=gen) < 0.1).long()
        sample = SegDataSample(metainfo=dict(
            img_shape=(size, size), ori_shape=(size, size),
            pad_shape=(size, size), padding_size=[0, 0, 0, 0]))
        sample.gt_sem_seg = PixelData(data=label.to(device))
        samples.append(sample)
    return inputs, samples


def make_train_step(model: nn.Module, batch: int, size: int,
                    device: torch.device, amp: bool) -> Callable[[], None]:
    """A closure running one training step on a fixed random batch.

    The step is forward with loss, backward and the paper's AdamW step
    (lr 1e-4, weight decay 0.1); with float16 autocast on CUDA the loss is
    scaled by a ``GradScaler``. The model is put in train mode.
    """
    model.train()
    inputs, samples = random_batch(batch, size, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4,
                                  weight_decay=0.1)
    scaler = torch.cuda.amp.GradScaler(
        enabled=device.type == 'cuda' and amp_dtype(device, amp) ==
        torch.float16)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast_context(device, amp):
            losses = model.loss(inputs, samples)
        loss, _ = model.parse_losses(losses)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return step


def train_step_timing(model: nn.Module, batch: int, size: int,
                      device: torch.device, amp: bool, warmup: int,
                      repeats: int) -> Dict:
    """Time training steps (:func:`make_train_step`)."""
    step = make_train_step(model, batch, size, device, amp)
    return dict(time_calls(step, device, warmup, repeats), batch=batch,
                size=size)


def inference_timing(model: nn.Module, size: int, device: torch.device,
                     amp: bool, warmup: int, repeats: int) -> Dict:
    """Time whole-image inference (``model.predict``) of one image pair."""
    infer = make_inference(model, size, device, amp)
    return dict(time_calls(infer, device, warmup, repeats), batch=1,
                size=size)


def interleaved_timing(fns: Dict[str, Callable[[], None]],
                       device: torch.device, warmup: int,
                       repeats: int) -> Dict:
    """Time several callables in alternation, round by round.

    Run in one process and one time window, the callables see the same
    machine state, so their ratio is free of the drift between separately
    timed runs (on a shared VM, 5-10 % from one run to the next).

    Returns:
        dict: Per name, ``median_s`` and ``times_s``.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed_call(fn, device))
    return {
        name: dict(median_s=statistics.median(t), times_s=t)
        for name, t in times.items()
    }


def make_inference(model: nn.Module, size: int, device: torch.device,
                   amp) -> Callable[[], None]:
    """A closure running ``model.predict`` of one random pair (eval mode)."""
    model.eval()
    inputs, _ = random_batch(1, size, device)

    def infer():
        with torch.no_grad(), autocast_context(device, amp):
            model.predict(inputs)

    return infer
