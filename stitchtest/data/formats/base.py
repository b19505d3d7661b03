"""What a data format is (:class:`DataFormat`) and the registry that holds them (:data:`FORMATS`)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from ...runtime.registry import Registry
from ..fingerprints import of_files


class DataFormat:
    """One way image data is stored: how a directory of it is recognised (:meth:`detect`), how it
    is read (:meth:`read`), and which files its fingerprint covers (:meth:`files`).

    A format is one module: a subclass registered with ``@FORMATS.register`` (a module in this
    folder is imported with it) or advertised under the entry-point group
    ``stitchtest.data_formats``. Formats hold no state; the data layer makes one per use.
    """

    #: the name in ``DataSpec(name)`` and in every data id
    name: str = ""
    #: side of the loaded images, unless the spec gives one
    size: int = 32
    #: the class count the format fixes, or None: counted in the data
    classes: Optional[int] = None
    #: whether ``DataSpec.parse`` takes the bare name (``"mnist"``), not only a directory
    by_name: bool = False
    #: detection order: lower is tried first (the catch-all ImageFolder is last, at 90)
    priority: int = 50
    #: what its directory holds, for error messages
    expected: str = ""
    #: how "cannot tell which data set" names it
    described: str = ""

    def detect(self, root: Path) -> bool:
        """Whether directory ``root`` holds data of this format."""
        return False

    def source(self, text: str) -> bool:
        """Whether ``text``, which names no known format, is a source of this format that is no
        directory (``module:function`` for ``torch``)."""
        return False

    def read(self, spec):
        """``((x_train, y_train), (x_test, y_test), peak, classes)``: images as numpy arrays
        ``(N, C, H, W)`` whose brightest possible value is ``peak``, int64 labels, the class count.
        Size, subsets and normalisation are the data layer's (:func:`~stitchtest.data.dataset.load`)."""
        raise NotImplementedError(f"data format {self.name!r} does not say how to read it")

    def files(self, root: Path) -> List[Path]:
        """The files :meth:`read` reads below ``root``: what the fingerprint hashes."""
        return []

    def fingerprint(self, spec) -> Optional[str]:
        """12 hex digits of the content of :meth:`files`, or None when there are none."""
        if spec.root is None:
            return None
        files = self.files(Path(spec.root).expanduser())
        return of_files(files) if files else None


#: data formats by name: the built-ins of this folder, ``stitchtest.data_formats`` entry points
FORMATS: Registry[DataFormat] = Registry("data format", "stitchtest.data_formats")
