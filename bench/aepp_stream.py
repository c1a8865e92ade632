"""Runs inside aepp's own virtualenv (.aepp-venv, aepp 0.6.0): streams call events to the sink with
``DataIngestion.streamMessages``, ``AEPP_PER_REQUEST`` messages per request, one request after the other
(aepp sends synchronously), as a user of aepp would: each SQS body parsed, wrapped in a streaming message.

Input: AEPP_URL (the sink), AEPP_BODIES (a file of JSON bodies, one per line), AEPP_PER_REQUEST,
AEPP_ORG, AEPP_INLET, AEPP_DATASET, AEPP_FLOW, AEPP_SCHEMA. Prints one JSON line: seconds, cpu_seconds,
requests, messages, and how many messages aepp's answers accepted.
"""

import json
import os
import time
from typing import Any

import aepp
from aepp import ingestion

env = os.environ
url = env["AEPP_URL"]
aepp.configure(
    org_id=env["AEPP_ORG"],
    client_id="bench",
    secret="bench-secret",
    scopes="openid,AdobeID",
    sandbox="prod",
    environment="support",
    endpoint=url,
)
aepp.config.config_object["imsEndpoint"] = url
aepp.config.config_object["oauthTokenEndpointV2"] = f"{url}/ims/token/v3"
aepp.config.endpoints["streaming"]["collection"] = url

with open(env["AEPP_BODIES"]) as handle:
    bodies = handle.read().splitlines()
per_request = int(env["AEPP_PER_REQUEST"])
schema = {"id": env["AEPP_SCHEMA"], "contentType": "application/vnd.adobe.xed-full+json;version=1"}
header = {
    "schemaRef": schema,
    "imsOrgId": env["AEPP_ORG"],
    "datasetId": env["AEPP_DATASET"],
    "flowId": env["AEPP_FLOW"],
}


def message(body: str) -> dict[str, Any]:
    return {"header": header, "body": {"xdmMeta": {"schemaRef": schema}, "xdmEntity": json.loads(body)}}


ing = ingestion.DataIngestion()
ing.streamMessages(inletId=env["AEPP_INLET"], data=[message(bodies[0])], flowId=env["AEPP_FLOW"])  # warm

started, cpu = time.perf_counter(), time.process_time()
accepted = requests = 0
for start in range(0, len(bodies), per_request):
    chunk = [message(body) for body in bodies[start : start + per_request]]
    answer = ing.streamMessages(inletId=env["AEPP_INLET"], data=chunk, flowId=env["AEPP_FLOW"])
    requests += 1
    accepted += sum(1 for entry in answer.get("responses", []) if "xactionId" in entry)
seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
print(
    json.dumps(
        {
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "requests": requests,
            "messages": len(bodies),
            "accepted": accepted,
        }
    )
)
