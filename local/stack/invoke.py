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
from pathlib import Path

from stack.lambdas import InvocationError
from stack.samples import localise
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
            container = stack.container(args.function)
        except KeyError as exc:
            print(f"invoke: {exc.args[0]}", file=sys.stderr)
            return 2
        event, changes = localise(event, container.spec, _drop_bucket(stack))
        for change in changes:
            progress(f"the sample names the deployed stack's resources: {change} (the local stack's)")
        progress(f"invoking {container.spec.logical_id} with {args.event}")
        try:
            result = container.invoke(event)
        except InvocationError as exc:
            print(json.dumps({"errorType": exc.error_type, "errorMessage": exc.message}, indent=2))
            return 1
    print(json.dumps(result, indent=2))
    return 0


def _drop_bucket(stack: LocalStack) -> str | None:
    try:
        return str(stack.output("BatchDropBucketName"))
    except KeyError:
        return None


if __name__ == "__main__":
    sys.exit(main())
