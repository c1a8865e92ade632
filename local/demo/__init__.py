"""The offline demo (``make demo``): moto's server for AWS, the emulator for AEP, nothing leaves the machine.

The call-center story through the real handlers, each invoked as Lambda would:

1. :mod:`demo.files`: a CSV of callers (through a route's CSV mapping), the gzipped NDJSON call history
   and one Latin-1 CSV are dropped in the bucket; the batch function gets their S3 notifications in one
   SQS event, the follow-up runs on EventBridge's schedule until each file has its report (batch id,
   status, records read/sent/refused, the refused file's reason, the refused row's line and reason).
2. :mod:`demo.story`: the callers' call events through the SQS streaming function, one broken record
   dead-lettered.
3. :mod:`demo.lookup`: the IVR asks the lookup API (API Gateway's REST event, an IAM caller) for each
   caller dialled as written in the call center's country, then one again from the function's cache.
4. :mod:`demo.brands`: a second brand on the same deployment, registered with the tenant CLI; one mixed
   SQS batch; each brand's callers found in its own AEP org only.

A short summary follows; the exit status is 0 when every expectation holds, else 1 with the reasons.
"""
