# One of two sdists (at-once-a, at-once-b) whose builds each take 1 s and
# record in the wheel when they ran: the build phase builds wheels at once,
# so the two spans overlap (TestE2EPipBuildsAtOnce).
import sys
import time

from setuptools import setup

if "bdist_wheel" in sys.argv:
    start = time.time()
    time.sleep(1)
    with open("at_once_a/span.py", "w") as f:
        f.write("SPAN = (%r, %r)\n" % (start, time.time()))
setup(name="at-once-a", version="1.0", packages=["at_once_a"])
