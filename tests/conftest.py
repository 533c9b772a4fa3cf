import atexit
import os
import shutil
import tempfile

# Tests must not use more BLAS threads than the machine has cores, and must be
# quick: every sweep in tests is tiny.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# Data fingerprints are cached in a file (experiments.data.fingerprint_cache_path):
# tests keep theirs out of the user's home, in a folder removed when the session ends.
if "ACTCOMPARE_CACHE" not in os.environ:
    os.environ["ACTCOMPARE_CACHE"] = tempfile.mkdtemp(prefix="actcompare-cache-")
    atexit.register(shutil.rmtree, os.environ["ACTCOMPARE_CACHE"], ignore_errors=True)
