"""Runner hook that refuses checkpoints which do not fit the model."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from opencd.registry import HOOKS
from ..utils.checkpoint import check_state_dict


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Check every checkpoint the runner loads (``load_from``, resume)
    against the model before mmengine loads it.

    mmengine loads ``load_from`` with ``strict=False``: a checkpoint of
    another width or architecture only logs warnings and the run goes on
    with half-initialised weights. With this hook it is an error naming the
    first mismatched keys and shapes, unless ``strict=False`` (fine-tuning),
    in which case the log lists what was not loaded.

    Args:
        strict (bool): Refuse any mismatch. Defaults to True.
        source (str, optional): Checkpoint name for messages.
    """

    priority = 'VERY_HIGH'

    def __init__(self, strict: bool = True, source: Optional[str] = None):
        self.strict = strict
        self.source = source

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        check_state_dict(model, checkpoint, self.source or 'the checkpoint',
                         self.strict)
