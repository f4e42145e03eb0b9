"""Datasets: GET from a Hugging Face file, or PUSH through the webhook (docs/datasets.md).
Modules, one job each:

- ``rows``: one normalization and validation of rows, for pushed rows and GET files alike.
- ``push``: accepting a push request whole or not at all (limits, pending batch, counters).
- ``consolidate``: merging pending batches into a new immutable dataset version, under a lease.
- ``triggers``: what starts a consolidation (queue message, the sweep) and what follows it.
- ``status``: what the dataset routes read (record, pending rows, recent batches).
- ``hf``: GET mode through ``huggingface_hub``: resolve, pin, snapshot.
- ``s3io``: streaming a large upload to S3 and getting its version back.
- ``tracing``: the ``dataset`` trace of a consolidation.
"""
