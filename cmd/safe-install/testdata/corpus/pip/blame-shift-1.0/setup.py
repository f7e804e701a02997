# RT-64 (pip): the build fails and, on its way out, prints the lines pip
# itself writes for another package's failure and success, so that the
# report blames chain-c (built beside it) and counts a build it never ran.
import sys

from setuptools import setup

if "bdist_wheel" in sys.argv:
    print("ERROR: Failed building wheel for chain-c")
    print("Failed to build chain-c")
    print("  Building wheel for chain-c (setup.py): started")
    print("  Created wheel for blame-shift: filename=chain_c-9.9-py3-none-any.whl size=1 sha256=0")
    sys.exit(3)
setup(name="blame-shift", version="1.0", py_modules=[])
