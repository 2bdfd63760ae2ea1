"""Thread counts in one place: how many worker threads the blocked kNN search runs, and BLAS
held to one thread inside each (two thread pools spinning against each other on the same cores
made the first blocked search 20x slower)."""
from threadpoolctl import threadpool_limits
from numba import get_num_threads

BLAS_THREADS_PER_WORKER = 1  # BLAS threads inside each of our worker threads


def worker_threads():
    """Worker threads for our own thread pools: numba's thread count (``NUMBA_NUM_THREADS``)."""
    return max(1, get_num_threads())


def blas_per_worker():
    """Context manager: BLAS on ``BLAS_THREADS_PER_WORKER`` thread(s) while our workers run."""
    return threadpool_limits(BLAS_THREADS_PER_WORKER, "blas")
