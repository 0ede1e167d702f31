"""The analytics events pipeline (seed 001): ingest, raw log, snapshots, dimensions, retention."""
