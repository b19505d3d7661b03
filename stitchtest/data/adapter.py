"""Any ``torch.utils.data.Dataset`` of ``(image, label)`` as arrays (:func:`arrays`): how an
ImageFolder tree and a ``module:function`` data set become the images every format yields."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch

from .errors import DataError
from .images import resize, image_array


def _label(label, where: str) -> int:
    if isinstance(label, torch.Tensor) and label.numel() == 1 and not label.is_floating_point():
        return int(label.item())
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return int(label)
    raise DataError(f"{where} has label {label!r} ({type(label).__name__}); expected an int class index")


def _items(dataset):
    """``dataset``'s samples in order: by index for a map-style data set, else by iteration."""
    if hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__"):
        return (dataset[i] for i in range(len(dataset)))
    return iter(dataset)


def arrays(dataset, size: Optional[int] = None, where: str = "data set") -> Tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` from any ``torch.utils.data.Dataset`` of ``(image, label)``: images as float32
    ``(N, C, H, W)`` in [0, 1] for 8-bit data, labels as int64.

    An image is a PIL image (any mode: greyscale stays one channel, the rest become RGB) or a
    tensor; labels are ints. If some images are greyscale and some colour, all become colour; if
    sizes differ, every image is resized to ``size`` x ``size`` (an error without ``size``).
    ``torchvision.datasets.ImageFolder`` and the torchvision data sets without a transform fit.
    """
    xs, ys = [], []
    for i, item in enumerate(_items(dataset)):
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            what = f"{type(item).__name__} of {len(item)}" if isinstance(item, (tuple, list)) else type(item).__name__
            raise DataError(f"{where}: sample {i} is a {what}; expected an (image, label) pair")
        xs.append(image_array(item[0], f"{where}: sample {i}'s image"))
        ys.append(_label(item[1], f"{where}: sample {i}"))
    if not xs:
        raise DataError(f"{where} is empty; expected (image, label) samples")
    if len({x.shape[0] for x in xs}) > 1:
        xs = [np.repeat(x, 3, axis=0) if x.shape[0] == 1 else x for x in xs]
    if len({x.shape[0] for x in xs}) > 1:
        raise DataError(f"{where}: images have {sorted({x.shape[0] for x in xs})} channels; expected 1 or 3")
    shapes = sorted({x.shape[1:] for x in xs})
    if len(shapes) > 1:
        if size is None:
            raise DataError(f"{where}: images have {len(shapes)} sizes ({shapes[0]}, {shapes[-1]}, ...); "
                            f"give a size to resize them to")
        xs = [resize(torch.from_numpy(x)[None], size)[0].numpy() for x in xs]
    return np.stack(xs).astype(np.float32, copy=False), np.asarray(ys, dtype=np.int64)


def class_count(dataset, labels: np.ndarray) -> int:
    """``len(dataset.classes)`` where a data set names its classes (torchvision's do), else max + 1."""
    while not hasattr(dataset, "classes") and hasattr(dataset, "dataset"):  # Subset and the like
        dataset = dataset.dataset
    classes = getattr(dataset, "classes", None)
    return len(classes) if classes is not None and len(classes) else int(labels.max()) + 1
