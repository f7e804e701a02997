/* The payload of nspkg-so: a Python extension module whose init function
 * leaves ~/.cache/nspkg-so-ran. It is never imported by anyone; setuptools'
 * namespace-package .pth line creates it at every Python start
 * (importlib.util.module_from_spec on the spec PathFinder finds for the
 * package's name: for an extension, create_module dlopens it and calls
 * PyInit). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "nspkg_so", NULL, -1, NULL};

PyMODINIT_FUNC PyInit_nspkg_so(void) {
    const char *home = getenv("HOME");
    char p[4096];
    if (home) {
        snprintf(p, sizeof p, "%s/.cache", home);
        mkdir(p, 0755);
        snprintf(p, sizeof p, "%s/.cache/nspkg-so-ran", home);
        FILE *f = fopen(p, "w");
        if (f) {
            fputs("ran\n", f);
            fclose(f);
        }
    }
    return PyModule_Create(&def);
}
