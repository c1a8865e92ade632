"""Batch ingestion: files dropped in S3 become AEP batches, read in constant memory, record by record."""
