import slow_buildreq
from setuptools import setup

# The build environment holds the sdist build requirement.
assert slow_buildreq.NAME == "slow-buildreq"
setup(name="needs-slow-buildreq", version="1.0", packages=["needs_slow_buildreq"])
