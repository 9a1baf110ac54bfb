"""Where the per-record map stage runs: in-process, on local processes, or on Dask.

All engines return results in input order, so the dataset is byte-identical whichever runs it.

- ``local``: this process (default; simplest to debug).
- ``processes``: a ``ProcessPoolExecutor`` with ``workers`` processes.
- ``dask``: a Dask bag; ``EMMEL_DASK_SCHEDULER`` names a distributed scheduler address
  (``tcp://host:8786``) or a local scheduler (``processes``, ``threads``, ``synchronous``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence

from emmel.errors import EmmelError
from emmel.progress import progress

ENGINES = ("local", "processes", "dask")


def map_ordered(fn: Callable, jobs: Sequence, *, engine: str = "local", workers: int = 1, desc: str = "") -> Iterable:
    if engine == "local" or (engine == "processes" and workers <= 1):
        return (fn(job) for job in progress(jobs, desc=desc))
    if engine == "processes":
        from concurrent.futures import ProcessPoolExecutor

        chunk = max(1, len(jobs) // (workers * 8))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(progress(pool.map(fn, jobs, chunksize=chunk), desc=desc, total=len(jobs)))
    if engine == "dask":
        try:
            import dask.bag as db
        except ImportError:
            raise EmmelError("engine 'dask' needs Dask: pip install 'emmel[scale]'") from None
        scheduler = os.environ.get("EMMEL_DASK_SCHEDULER", "processes")
        partitions = max(1, min(len(jobs), max(workers, 1) * 4))
        bag = db.from_sequence(jobs, npartitions=partitions).map(fn)
        if "://" in scheduler:
            from dask.distributed import Client

            with Client(scheduler) as client:
                return client.compute(bag).result()
        return bag.compute(scheduler=scheduler, num_workers=max(workers, 1))
    raise EmmelError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
