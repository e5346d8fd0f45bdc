"""Every tuning number, once, with why it has its value. None of them changes a byte of the data: they trade
speed, memory and patience. The CLI's defaults and --help read them from here."""

from __future__ import annotations

# --- loading (load, load_events; generate-events' --workers, --connections, --batch-rows) -------------------

# Rows per Arrow batch where pgpq encodes (the core tables; sessions, page views, feature usage): big enough
# to amortize per-call overhead, small enough for memory; any value gives the same bytes in the table.
COPY_BATCH_ROWS = 65_536
# Parallel COPY connections, each loading one day: PostgreSQL ingests one stream per backend, one core each.
COPY_CONNECTIONS = 2
# Threads building partitions while the connections copy: on 2 cores the two COPY backends and the generator
# already use both; more build threads only raise memory (docs/decisions.md, Event streams 14).
BUILD_WORKERS = 1
# Parts built ahead of the one being copied, per loader: enough to hide build time, few enough that memory
# follows the largest parts in flight, not the volume.
PREFETCH = 2
# Rows per Parquet row group at most (--sink parquet): a core table's file is one group. A value is part of the
# bytes, so it never varies.
PARQUET_ROW_GROUP_ROWS = 1 << 20
# Rows of a partition built, checked and written at a time (--sink parquet; a tap-event slice holds whole
# devices, so it may hold a few more): each slice is a row group of its file. Memory then follows this, not the
# largest partition (1.9M rows on the busiest days at --scale 1.73, 0.64M in the first 100M rows); a value is
# part of the bytes, so it never varies.
PARQUET_SLICE_ROWS = 1 << 18
# zstd's level for --compression zstd (the default): level 1 writes 1.6x as fast as Polars' default 3 for files
# 12% larger (19.7 against 17.5 bytes a tap event); compressing is most of a Parquet run's time. A value is part
# of the bytes, so it never varies.
PARQUET_ZSTD_LEVEL = 1
# Partition files written at once by the Parquet sink (each builds and compresses on its own thread): three on
# two cores, since each thread waits at times (on the GIL, or for Polars' pool while the other thread's work
# holds it) and a third keeps the cores busy (CPU 178% against 165%, about a tenth more rows/s); memory grows by
# one slice (PARQUET_SLICE_ROWS).
PARQUET_WRITERS = 3
# glibc malloc's thresholds in datagen's processes (datagen/_malloc.py; executors.WORKER_ENV for Dask's
# workers): arrays up to MALLOC_MMAP_BYTES come from the heap, and each heap keeps up to MALLOC_TRIM_BYTES free, so
# a partition's arrays reuse the pages the last one freed instead of faulting in new ones (a tenth of a Parquet
# run's time, half its system time; under Dask's own setting a worker's build took 4x as long). Memory stays
# bounded by the largest partitions in flight.
MALLOC_MMAP_BYTES = 32 << 20  # glibc refuses more (HEAP_MAX_SIZE / 2 on 64-bit)
MALLOC_TRIM_BYTES = 256 << 20
# Seconds to connect to an object store and for one request (--out s3://...): an unreachable endpoint is
# reported in seconds, not after the SDK's default minutes.
OBJECT_STORE_TIMEOUT_S = 10
# Seconds to reach an existing Dask scheduler (--executor dask --scheduler) before the run is refused.
DASK_CONNECT_TIMEOUT_S = 10
# How long the worker-loss test's task waits to be killed (executors.FAULT_WAIT_ENV); the test kills it at once.
DASK_FAULT_WAIT_S = 120
# A staging table's sort budget (maintenance_work_mem): keeps its primary-key build in memory.
STAGING_SORT_MEMORY = "256MB"
# Parallel index workers for that build (max_parallel_maintenance_workers): none, the loaders already keep
# every core busy.
STAGING_INDEX_WORKERS = 0
# How long the main thread waits on a loader thread at a time: a short wait keeps Ctrl-C responsive.
LOADER_JOIN_S = 0.2

# --- validating (validate's --connections) -------------------------------------------------------------------

# Partitions read at once: one PostgreSQL backend (one core) each.
READ_CONNECTIONS = 2
# Parent keys up to this are joined through a position array (8 bytes a key: 128 MiB at most) instead of a
# hash table.
DENSE_MAX_KEY = 1 << 24

# --- encoding (copy_format) ----------------------------------------------------------------------------------

# A packed jsonb number's texts come from a table over the partition's value range when the range is narrower
# than this (and than the row count), else they are rendered row by row: caps the table's memory.
DECIMAL_TEXT_TABLE_MAX = 1 << 20

# --- connecting (db, embedded) -------------------------------------------------------------------------------

# libpq connect_timeout: long enough for a cold server, short enough that a wrong host fails fast.
CONNECT_TIMEOUT_S = 10
# pg_ctl -w -t: how long a start may take before it counts as failed (pg_ctl's own default); crash recovery
# after a kill is the slow case.
EMBEDDED_START_TIMEOUT_S = 60
# A postmaster that is alive but does not answer gets this long to finish starting or dying.
EMBEDDED_SETTLE_TIMEOUT_S = 5
# How often a settling postmaster is asked again.
EMBEDDED_SETTLE_POLL_S = 0.1
# connect_timeout of the probe asking the embedded server whether it answers: its local socket answers at
# once, so this only bounds a server that hangs.
EMBEDDED_PROBE_TIMEOUT_S = 5
