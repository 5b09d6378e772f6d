"""Issue 12 item 8: under ``make run`` a SIGKILLed worker is restarted and cases go on.

The whole local stack runs as ``python -m tools.devstack`` in a child process, as
``make run`` starts it (own ports, own data directory, a small demo town), with the chat-bot
gateway pointed at a ``FakeGateway`` in this test (which also turns the simulator off). The
worker's pid comes from the stack's own log; it is SIGKILLed; the stack must log the restart,
a new worker must poll again, and a case filed through the API after the kill must be
dispatched and its ``new_task`` message delivered. SIGTERM then stops all of it cleanly.
Before this the stack stopped everything: "worker exited unexpectedly ... stopped after a
failure".
"""

from __future__ import annotations

import os
import re
import signal
import sys
import uuid
from pathlib import Path

import httpx

from api.security import issue_token
from schemas.platform.common import Actor
from settings import PLACEHOLDER_PREFIX
from tests.faults.driver import until
from tests.faults.processes import Proc
from tools.fake_gateway import FakeGateway
from tools.process_supervisor import free_port

SECRET = "faults-devstack-secret"
TOKEN_SECRET = PLACEHOLDER_PREFIX + "token-secret"  # the dev default the stack's API uses
TOWN_CENTRE = {"lat": 30.745, "lon": 120.487}


def _worker_pids(log: str) -> list[int]:
    return [int(p) for p in re.findall(r"(?:started|restarted) worker \(pid (\d+)\)", log)]


async def test_make_run_restarts_a_killed_worker_and_cases_go_on(tmp_path: Path) -> None:
    async with FakeGateway(SECRET) as gateway:
        api_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDPLUS_")}
        env |= {
            "GRIDPLUS_BOT_GATEWAY_URL": gateway.url,
            "GRIDPLUS_BOT_SECRET": SECRET,
            "GRIDPLUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/gridplus.db",
            "GRIDPLUS_WORKER_METRICS_ADDRESS": "",
            "PYTHONUNBUFFERED": "1",
        }
        argv = [sys.executable, "-m", "tools.devstack", "--data-dir", str(tmp_path / "data")]
        argv += ["--temporal-port", str(free_port()), "--ui-port", str(free_port())]
        argv += ["--api-port", str(api_port), "--stewards", "120"]
        stack = Proc("devstack", argv, env, tmp_path / "devstack.log")
        try:
            await stack.wait_for_output("gridplus is running", 240)
            assert "started sim" not in stack.text()  # a gateway is configured: no simulator
            await stack.wait_for_output("polling task queue", 60)
            assert "on the uvloop event loop" in stack.text()  # worker.run_forever
            [first] = _worker_pids(stack.text())
            os.killpg(first, signal.SIGKILL)

            await stack.wait_for_output("restarted worker (pid", 60)
            assert f"worker exited unexpectedly with code -{int(signal.SIGKILL)}" in stack.text()
            assert "restarting in 1 s" in stack.text()
            second = _worker_pids(stack.text())[-1]
            assert second != first

            async def polling_again() -> bool:
                return stack.text().count("polling task queue") >= 2

            await until(polling_again, 60, "the restarted worker polling")

            token = issue_token(TOKEN_SECRET, Actor(role="steward", id="S0001"))
            body = {"case_type": "illegal_parking", "location": TOWN_CENTRE, "description": "x"}
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as api:
                filed = await api.post("/cases", json=body, headers=headers, timeout=30)
                assert filed.status_code == 202, filed.text
                case_id = filed.json()["case_id"]
                told = await gateway.wait_for(
                    lambda m: m.get("case_id") == case_id and m.get("kind") == "new_task", 90
                )
                seen = (await api.get(f"/cases/{case_id}", headers=headers)).json()
            assert told["steward_id"] and seen["status"] in ("dispatched", "accepted")
            assert stack.alive, stack.tail()

            stack.signal(signal.SIGTERM)
            assert await stack.wait_exit(60) == 0, stack.tail()
            assert "stopped cleanly" in stack.text()
        finally:
            await stack.stop(20)
            print(stack.tail(60))
