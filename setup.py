"""What pyproject.toml cannot say statically: the wheel's packages, found rather than listed.

The testbeds ship inside the package (``stitchtest/testbeds`` in a wheel, for ``stitchtest audit``)
while a checkout keeps them in ``testbeds/`` for ``pytest testbeds``. Each testbed folder
(``test_<name>.py``, ``expect.py``, ``README.md``) is a package of the wheel, found here, so that
adding a testbed stays one new folder (setuptools warns about a folder of ``.py`` files shipped as
data alone; ``tests/test_packaging.py`` checks the wheel holds every testbed file and builds quietly).
The default zoo's shipped weights (``stitchtest/models/pretrained``, data without ``__init__.py``) are
a package of the wheel for the same reason.
"""
from pathlib import Path

from setuptools import find_packages, setup

testbeds = sorted(p.parent.name for p in Path(__file__).parent.joinpath("testbeds").glob("*/test_*.py"))
setup(packages=find_packages(include=["stitchtest", "stitchtest.*"]) + ["stitchtest.testbeds", "stitchtest.models.pretrained"]
      + [f"stitchtest.testbeds.{name}" for name in testbeds])
