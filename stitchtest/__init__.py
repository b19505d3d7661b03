"""stitchtest: audit functional-similarity methods against known ground truth."""

__version__ = "0.1.0"
