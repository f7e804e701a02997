# A pure-Python chain a -> b -> c with no pyproject.toml: pip falls back to
# setuptools' legacy backend, whose requirements the fetch must collect.
from setuptools import setup

setup(name="chain-a", version="1.0", packages=["chain_a"], install_requires=["chain-b==1.0"])
