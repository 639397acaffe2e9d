"""CUDA C sources of zfcore's GPU path, one file per op family (shipped as ``zfcore.kernels``).

Nothing here is compiled at import: ``zfcore.backend.kernel`` builds each file into a
``cupy.RawModule`` the first time one of its kernels is asked for, once per device.
"""
