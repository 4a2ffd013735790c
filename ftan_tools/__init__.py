"""Tooling of ftan-opencd: benchmarking, synthetic data and data-set
preparation, used by ``tools/*.py``.

The plugin (``ftan_opencd``: what configs and the inference API import)
never imports this package; this package imports the plugin.
"""
