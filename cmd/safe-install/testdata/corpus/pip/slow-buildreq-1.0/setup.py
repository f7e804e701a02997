# A build requirement that is itself an sdist, with a metadata hook that
# takes a while (as a large setup.py does). The pip fetch downloads each
# new set of build requirements while pip installs the same set, so two
# pips prepare this sdist at once; the pause makes sure they overlap
# (they shared pip's build tracker once, and the second one failed).
import time

from setuptools import setup

time.sleep(1.5)
setup(name="slow-buildreq", version="1.0", packages=["slow_buildreq"])
