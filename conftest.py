# The stitchtest pytest plugin (options, fixtures, xdist wiring) is registered by the package's
# ``pytest11`` entry point: see stitchtest/plugin/hooks.py. Nothing else belongs here.
