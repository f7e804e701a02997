# A pure-Python chain a -> b -> c with no pyproject.toml: pip falls back to
# setuptools' legacy backend, whose requirements the fetch must collect.
from setuptools import setup

setup(name="chain-b", version="1.0", packages=["chain_b"], install_requires=["chain-c==1.0"])
