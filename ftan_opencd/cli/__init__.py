"""What the tools in ``tools/`` share: command-line options, and loading a
config with them (the top layer: it combines config checks, data roots
and the checkpoint fit check). Nothing else in ``ftan_opencd`` imports it."""
from .arguments import (add_runner_arguments, add_trust_argument,
                        checkpoint_trusted, parse_runner_args)
from .config_checks import check_runnable, model_only_hint
from .runner_config import add_fit_check, load_config

__all__ = [
    'add_fit_check', 'add_runner_arguments', 'add_trust_argument',
    'check_runnable', 'checkpoint_trusted', 'load_config', 'model_only_hint',
    'parse_runner_args'
]
