# A local project with a C extension. `safe-install pip install .` builds it
# in the sandbox (the compiler and setuptools never run on this machine) and
# the host's pip installs the wheel that comes back.
from setuptools import Extension, setup

setup(
    name="hello-sdist",
    version="1.0.0",
    description="A C extension built by safe-install in the sandbox",
    ext_modules=[Extension("hello_sdist", ["src/hello_sdist.c"])],
)
