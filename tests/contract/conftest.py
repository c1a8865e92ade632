"""Fixtures shared by the emulator's contract tests (each module starts its own ``emu``)."""

from __future__ import annotations

import pytest
import requests

from aep_emulator import Emulator


@pytest.fixture(scope="module")
def auth(emu: Emulator) -> dict[str, str]:
    client = emu.config.clients[0]
    form = {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "scope": "openid",
    }
    token = requests.post(f"{emu.url}/ims/token/v3", data=form, timeout=5).json()["access_token"]
    return {
        "Authorization": f"Bearer {token}",
        "x-api-key": client.client_id,
        "x-gw-ims-org-id": emu.config.org_id,
        "x-sandbox-name": "prod",
    }
