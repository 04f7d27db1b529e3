"""Where the batch jobs run: one process (local), or hash partitions of the leads on Dask."""
