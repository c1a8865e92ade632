"""Runs inside aepp's own virtualenv (see bench/aepp_check.py): drives the emulator with aepp 0.6.0.

Input: AEMU_URL, AEMU_ORG, AEMU_CLIENT, AEMU_SECRET, AEMU_DATASET, AEMU_INLET, AEMU_FLOW, AEMU_PHONE,
AEMU_SCHEMA. Prints one JSON line: ``{"steps": {step: what aepp returned}}``, one entry per aepp call, so
bench/aepp_check.py can judge every return value (aepp reports most HTTP errors in its return value, not
by raising: ``{"error": ...}``).
"""

import json
import os

import aepp
from aepp import customerprofile, ingestion

env = os.environ
url = env["AEMU_URL"]
aepp.configure(
    org_id=env["AEMU_ORG"],
    client_id=env["AEMU_CLIENT"],
    secret=env["AEMU_SECRET"],
    scopes="openid,AdobeID",
    sandbox="prod",
    environment="support",
    endpoint=url,
)
# aepp's IMS endpoint is module-level config: point it at the emulator too.
aepp.config.config_object["imsEndpoint"] = url
aepp.config.config_object["oauthTokenEndpointV2"] = f"{url}/ims/token/v3"
aepp.config.endpoints["streaming"]["collection"] = url

phone = env["AEMU_PHONE"]
schema = {"id": env["AEMU_SCHEMA"], "contentType": "application/vnd.adobe.xed-full+json;version=1"}
records = [
    {
        "_id": f"aepp-{n}",
        "timestamp": f"2026-01-01T10:00:0{n}Z",
        "eventType": "ivr.call",
        "identityMap": {"Phone": [{"id": phone, "primary": True}]},
        "_acme": {"call": {"direction": "inbound", "durationSeconds": 30 + n}},
    }
    for n in range(3)
]

steps = {}
ing = ingestion.DataIngestion()
batch = ing.createBatch(datasetId=env["AEMU_DATASET"], multiline=True, enableDiagnostic=True)
steps["createBatch"] = batch
batch_id = batch.get("id", "missing") if isinstance(batch, dict) else "missing"
steps["uploadSmallFile"] = ing.uploadSmallFile(
    batchId=batch_id, datasetId=env["AEMU_DATASET"], filePath="aepp.json", data=records
)
steps["uploadSmallFileFinish"] = ing.uploadSmallFileFinish(batchId=batch_id)

messages = [
    {
        "header": {
            "schemaRef": schema,
            "imsOrgId": env["AEMU_ORG"],
            "datasetId": env["AEMU_DATASET"],
            "flowId": env["AEMU_FLOW"],
        },
        "body": {"xdmMeta": {"schemaRef": schema}, "xdmEntity": {**records[0], "_id": f"aepp-stream-{n}"}},
    }
    for n in range(2)
]
steps["streamMessages"] = ing.streamMessages(
    inletId=env["AEMU_INLET"], data=messages, flowId=env["AEMU_FLOW"]
)
steps["getEntity"] = customerprofile.Profile().getEntity(entityId=phone, entityIdNS="Phone")
print(json.dumps({"steps": steps}, default=repr))
