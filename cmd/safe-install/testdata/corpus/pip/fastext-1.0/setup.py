from setuptools import Extension, setup

setup(name="fastext", version="1.0", ext_modules=[Extension("fastext", ["fastext.c"])])
