"""The offline GPU run of ``tools/gpu_check.sh``: the wheel folder
(:mod:`.wheels`), the checks of the target Python (:mod:`.target`), the
predict step's GeoTIFF pair (:mod:`.scene`), and the run's summary
(:mod:`.logs`, :mod:`.summary`, :mod:`.summary_markdown`). The shell steps
live beside them (``main.sh``, ``prepare.sh``, ``run.sh``); the commands
the shell calls are ``python -m ftan_tools.gpu_check COMMAND``.

Standard library only at import time: the run calls these modules with
the target Python before the stack is installed.
"""
