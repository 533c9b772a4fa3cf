import os

# Tests must not use more BLAS threads than the machine has cores, and must be
# quick: every sweep in tests is tiny.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
