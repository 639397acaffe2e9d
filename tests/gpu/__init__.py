"""GPU tests: every kernel and launcher against the NumPy reference.

Each test runs on two devices: ``cupy`` (marked ``gpu``; skipped without CuPy or a CUDA device)
and ``emulated`` (the same launchers on NumPy arrays, the kernels built by g++ and run on the
CPU by ``emulator.py``; skipped without g++). ``python -m pytest -m gpu`` runs only the former;
with ``ZFCORE_REQUIRE_GPU=1`` a ``gpu`` test that finds no usable CuPy fails, saying why
(``conftest.py``), instead of skipping.
"""
