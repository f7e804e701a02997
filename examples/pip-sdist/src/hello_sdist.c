#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *hello(PyObject *self, PyObject *args) {
    return PyUnicode_FromString("hello from a wheel built in the sandbox");
}

static PyMethodDef methods[] = {
    {"hello", hello, METH_NOARGS, "Say where this was compiled."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "hello_sdist", NULL, -1, methods};

PyMODINIT_FUNC PyInit_hello_sdist(void) { return PyModule_Create(&module); }
