"""SQS to AEP streaming ingestion: validate, pack, send concurrently, report exactly what failed."""
