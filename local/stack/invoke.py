"""``python -m stack.invoke FUNCTION EVENT_FILE`` (``make invoke``): one event through one function's
handler, offline, as ``sam local invoke`` does without Docker. The sample's resource names (queue ARN,
bucket, API stage: a deployed stack's) are rewritten to the local stack's first, each rewrite said on stderr.
The stack is stood up as for ``make local``
(empty sandbox, setup, the template's resources), without its pollers, timers or API; the function is
named by its logical id (``StreamIngestFunction``) or its code folder (``stream_ingest``). The handler's
result is printed as JSON on stdout, its logs go to stderr. Exit status 0: the handler returned; 1: it
raised (its error on stdout, as Lambda reports it); 2: no such function or event file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import boto3

from stack.lambdas import InvocationError
from stack.samples import Put, call_event, localise, lookup_caller, stage_objects
from stack.stack import LocalStack, Options
from stack.template import ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.invoke", description=__doc__.split("\n")[0])
    parser.add_argument("function", help="logical id or code folder")
    parser.add_argument("event", help="a JSON event file (events/*.json)")
    args = parser.parse_args(argv)
    path = Path(args.event)
    if not path.is_absolute() and not path.exists():
        path = ROOT / path
    try:
        event = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"invoke: cannot read the event {args.event}: {exc}", file=sys.stderr)
        return 2

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with LocalStack(Options(triggers=False, function_logs=sys.stderr), say=progress) as stack:
        try:
            status, answer = invoke_sample(stack, args.function, event, args.event, progress)
        except KeyError as exc:
            print(f"invoke: {exc.args[0]}", file=sys.stderr)
            return 2
    print(json.dumps(answer, indent=2))
    return status


def invoke_sample(
    stack: LocalStack, function: str, event: dict[str, Any], label: str, say: Callable[[str], None]
) -> tuple[int, Any]:
    """``event`` (a sample, named ``label``) through ``function`` of the running ``stack``, its resource
    names the local stack's and what it needs in place first (the S3 object, the looked-up caller), each
    step said: (0, the handler's answer) or (1, the error as Lambda reports it).
    KeyError: no such function."""
    container = stack.container(function)
    bucket = _drop_bucket(stack)
    event, changes = localise(event, container.spec, bucket, _stream(stack))
    for change in changes:
        say(f"the sample names the deployed stack's resources: {change} (the local stack's)")
    if bucket is not None:
        event, puts = stage_objects(event, bucket, _putter(stack))
        for put in puts:
            say(f"the sample's object is not in the local bucket: {put}")
    caller = lookup_caller(event)
    if caller is not None and not _ingest_caller(stack, caller, say):
        return 1, {"errorType": "SampleSetup", "errorMessage": "the sample's caller could not be streamed"}
    say(f"invoking {container.spec.logical_id} with {label}")
    try:
        return 0, container.invoke(event)
    except InvocationError as exc:
        return 1, {"errorType": exc.error_type, "errorMessage": exc.message}


def _drop_bucket(stack: LocalStack) -> str | None:
    try:
        return str(stack.output("BatchDropBucketName"))
    except KeyError:
        return None


def _stream(stack: LocalStack) -> dict[str, str]:
    """The XDM envelope's header on the local stack: the setup's inlet dataset, flow, schema, the org."""
    parameters = stack.parameters
    return {
        "imsOrgId": stack.credentials()["org_id"],
        "datasetId": parameters["StreamDatasetId"],
        "flowId": parameters["StreamFlowId"],
        "schemaRef": parameters["StreamSchemaRef"],
    }


def _putter(stack: LocalStack) -> Put:
    env = stack.aws_environment()
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )

    def put(bucket: str, key: str, data: bytes) -> Mapping[str, Any]:
        answer: Mapping[str, Any] = s3.put_object(Bucket=bucket, Key=key, Body=data)
        return answer

    return put


def _ingest_caller(stack: LocalStack, phone: str, say: Callable[[str], None]) -> bool:
    """Stream one call of ``phone`` through the streaming function, so that the lookup finds a profile
    (setup leaves the sandbox without any); False (said) if the call was not accepted."""
    streaming = stack.container("StreamIngestFunction")
    say("setup leaves no profile: one call of the sample's caller goes through StreamIngestFunction first")
    answer = streaming.invoke(call_event(phone, streaming.spec.sqs[0].queue_arn))
    if answer.get("batchItemFailures"):
        say(f"invoke: the caller's call was not accepted: {answer}")
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
