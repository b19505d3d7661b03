"""One image as an array, and resizing: the pixel conversions every format shares."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DataError


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize; antialiased when shrinking so that downsampling does not alias."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=size < x.shape[-1])


def image_array(image, where: str) -> np.ndarray:
    """One image as float32 ``(C, H, W)`` in [0, 1] (for 8-bit data) from a PIL image or a tensor."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - torchvision depends on Pillow
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        if image.mode not in ("L", "RGB"):
            image = image.convert("L" if image.mode in ("1", "LA", "I;16", "I") else "RGB")
        a = np.asarray(image, dtype=np.float32) / 255.0
        return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    if isinstance(image, torch.Tensor) and image.dim() in (2, 3) and (image.is_floating_point()
                                                                   or image.dtype == torch.uint8):
        t = image.detach().cpu()
        t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
        return (t[None] if t.dim() == 2 else t).numpy()
    shape = f" of shape {tuple(image.shape)}" if hasattr(image, "shape") else ""
    raise DataError(f"{where} is a {type(image).__name__}{shape}; expected a PIL image or an image tensor "
                    f"(C, H, W) or (H, W), float (as ToTensor makes it) or uint8")
