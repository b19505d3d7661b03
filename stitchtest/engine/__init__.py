"""How a cell is computed: the typed cell, the context that caches models, data and activations, and
the methods (stitching objectives and measures) that turn groups of cells into readouts."""
