"""S3 file drops to AEP batches: route, validate each record, group, upload, hand over to the follow-up."""
