# Metadata works (the fetch phase succeeds); the build itself fails, as a
# broken compiler would.
import sys

from setuptools import setup

if "bdist_wheel" in sys.argv:
    print("fail-build: the compiler exploded (a deliberate test failure)", file=sys.stderr)
    sys.exit(3)
setup(name="fail-build", version="1.0", py_modules=[])
