"""Simulated stewards for demos: plays the chat-bot gateway and presses the buttons.

Why: a demo of the closed loop needs stewards who answer their phones. This receives the
worker's messages (the fake gateway of ``tools.fake_gateway``, signature checked) and
answers each new task the way people do: after a while, mostly yes, sometimes no,
sometimes not at all. Every answer is a signed ``POST /bot/callback`` built from the token
in the message, exactly what a real gateway sends, so the API's checks all apply.

Run it next to the API, and point the worker at it::

    python -m tools.steward_sim --port 8700 --api http://127.0.0.1:8000 \\
        [--decline-rate 0.15] [--ignore-rate 0.1] [--seed 1] [--speed 1]
    GRIDPLUS_BOT_GATEWAY_URL=http://127.0.0.1:8700/messages python -m worker

Both sides must share ``GRIDPLUS_BOT_SECRET`` (the dev default works for both).

Behaviour per task offer (``new_task``, ``confirm_task``): with ``--ignore-rate`` the
steward never answers (the case times out and moves to the next steward); otherwise after
5-40 s they decline (``--decline-rate``, with a reason) or accept, report arrival about
halfway, and report it resolved with a note 1-3 min after accepting. A ``reassigned``,
``case_closed`` or ``case_cancelled`` message stops whatever that steward was still going
to do for that case. ``--speed 10`` divides every delay by 10 (``make run ARGS="--fast-clock
N"`` passes ``--speed N``, so stewards keep pace with deadlines divided by N); ``--seed``
makes a run repeatable. A failed callback (API down, 5xx) is retried with the same
``request_id``, which the API answers once. SIGINT or SIGTERM stops cleanly: pending answers
are dropped, the port is released, and a summary is logged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx

from api.security import issue_token
from schemas.platform.common import Actor
from schemas.stewards.bot import BotAction, BotAnswer
from services.platform.tokens import sign_body
from settings import get_settings
from tools.fake_gateway import FakeGateway, Message

log = logging.getLogger("steward_sim")

OFFERS = ("new_task", "confirm_task")
STOPS = ("reassigned", "case_closed", "case_cancelled")
NOTES = {
    "zh": {"decline": "现在不在附近，抱歉。", "resolved": "已到现场处理完毕，现场已恢复正常。"},
    "en": {"decline": "Not nearby right now, sorry.", "resolved": "Handled on site; all clear."},
}


class StewardSim:
    """Decides and sends the answers; feed it messages through ``on_message``."""

    def __init__(
        self,
        api: httpx.AsyncClient,
        secret: str,
        rng: random.Random,
        *,
        decline_rate: float = 0.15,
        ignore_rate: float = 0.1,
        speed: float = 1.0,
    ) -> None:
        self.api = api
        self.secret = secret
        self.rng = rng
        self.decline_rate = decline_rate
        self.ignore_rate = ignore_rate
        self.speed = speed
        self.stats: Counter[str] = Counter()
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}

    def on_message(self, message: Message) -> None:
        """Called by the gateway for each accepted message; never blocks it."""
        key = (str(message.get("case_id")), str(message.get("steward_id")))
        kind = message.get("kind")
        self.stats[f"message:{kind}"] += 1
        if kind in STOPS or kind in OFFERS:
            previous = self._tasks.pop(key, None)
            if previous is not None:
                previous.cancel()
        if kind in OFFERS:
            task = asyncio.create_task(self._play(message))
            self._tasks[key] = task
            task.add_done_callback(functools.partial(self._forget, key))

    async def settle(self) -> None:
        """Wait until every steward has finished what they were going to do."""
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def close(self) -> None:
        """Drop every pending answer (used on SIGINT/SIGTERM)."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _forget(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]

    async def _pause(self, low: float, high: float) -> None:
        await asyncio.sleep(self.rng.uniform(low, high) / self.speed)

    async def _play(self, message: Message) -> None:
        who = f"{message['steward_id']} on {message['case_id']}"
        roll = self.rng.random()
        if roll < self.ignore_rate:
            self.stats["ignored"] += 1
            log.info("%s: ignores the task", who)
            return
        await self._pause(5, 40)
        if roll < self.ignore_rate + self.decline_rate:
            await self.send(message, "decline", note=self._note(message, "decline"))
            return
        answer = await self.send(message, "accept")
        if answer is None or answer.result != "accepted":
            return
        total = self.rng.uniform(60, 180)
        await asyncio.sleep(total * self.rng.uniform(0.3, 0.6) / self.speed)
        await self.send(message, "arrived")
        await asyncio.sleep(total * 0.4 / self.speed)
        await self.send(message, "resolved", note=self._note(message, "resolved"))

    def _note(self, message: Message, action: str) -> str:
        return NOTES.get(str(message.get("language")), NOTES["zh"])[action]

    async def send(self, message: Message, action: BotAction, **extra: Any) -> BotAnswer | None:
        """One signed callback for ``action`` of ``message``; retried with the same id."""
        tokens = {a["action"]: a["token"] for a in message.get("actions", [])}
        if action not in tokens:
            log.warning("no %s button in message %s", action, message.get("message_id"))
            return None
        payload = {
            "request_id": f"sim-{self.rng.getrandbits(64):016x}",
            "steward_id": message["steward_id"],
            "case_id": message["case_id"],
            "attempt": message["attempt"],
            "action": action,
            "token": tokens[action],
            **extra,
        }
        body = json.dumps(payload, ensure_ascii=False).encode()
        for attempt in range(5):
            timestamp = str(int(time.time()))
            headers = {
                "content-type": "application/json",
                "x-gridplus-timestamp": timestamp,
                "x-gridplus-signature": sign_body(self.secret, timestamp, body),
            }
            try:
                response = await self.api.post("/bot/callback", content=body, headers=headers)
            except httpx.HTTPError as error:
                log.warning("callback failed (%s); retrying", error)
            else:
                if response.status_code < 500:
                    return self._answered(payload, response)
                log.warning("callback answered %s; retrying", response.status_code)
            await asyncio.sleep(min(2**attempt, 30))
        self.stats["failed"] += 1
        return None

    def _answered(self, payload: dict[str, Any], response: httpx.Response) -> BotAnswer | None:
        who = f"{payload['steward_id']} on {payload['case_id']}"
        if response.status_code != 200:
            self.stats[f"http:{response.status_code}"] += 1
            status, text = response.status_code, response.text[:200]
            log.warning("%s %s: HTTP %s %s", who, payload["action"], status, text)
            return None
        answer = BotAnswer.model_validate(response.json())
        self.stats[f"{payload['action']}:{answer.result}"] += 1
        log.info("%s %s -> %s: %s", who, payload["action"], answer.result, answer.message)
        return answer


DEMO_REPORTS = (
    "illegal_parking", "street_vendor", "garbage", "neighbour_dispute",
    "safety_hazard", "street_lamp", "fire_lane_blocked", "smoke_alarm",
)  # fmt: skip
TOWN_CENTRE = (30.745, 120.487)


async def report_forever(api: httpx.AsyncClient, rng: random.Random, every: float) -> None:
    """File a random steward report near the town centre every ``every`` seconds."""
    secret = get_settings().api_token_secret.get_secret_value()
    while True:
        await asyncio.sleep(every * rng.uniform(0.5, 1.5))
        steward = f"S{rng.randint(1, 400):04d}"
        token = issue_token(secret, Actor(role="steward", id=steward), ttl_seconds=600)
        body = {
            "case_type": rng.choice(DEMO_REPORTS),
            "location": {
                "lat": TOWN_CENTRE[0] + rng.uniform(-0.025, 0.025),
                "lon": TOWN_CENTRE[1] + rng.uniform(-0.03, 0.03),
            },
            "description": "模拟上报 / simulated report",
        }
        try:
            answer = await api.post(
                "/cases", json=body, headers={"Authorization": f"Bearer {token}"}
            )
            log.info("%s reported %s -> %s", steward, body["case_type"], answer.status_code)
        except httpx.HTTPError as error:
            log.warning("report failed: %s", error)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.steward_sim",
        description="Simulated stewards: a fake bot gateway that answers tasks with callbacks.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="where to listen (loopback)")
    parser.add_argument("--port", type=int, default=8700, help="gateway port (0: any free)")
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="the gridplus API")
    parser.add_argument("--decline-rate", type=float, default=0.15)
    parser.add_argument("--ignore-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=None, help="repeatable choices and delays")
    parser.add_argument("--speed", type=float, default=1.0, help="divide every delay by this")
    parser.add_argument(
        "--report-every",
        type=float,
        default=0.0,
        help="also file a random steward report every N seconds (0: never), so that a demo "
        "shows cases flowing without anyone typing",
    )
    args = parser.parse_args(argv)
    rates = (args.decline_rate, args.ignore_rate)
    if not all(0 <= r <= 1 for r in rates) or sum(rates) > 1:
        parser.error("rates must be within 0..1 and add up to at most 1")
    if args.speed <= 0:
        parser.error("--speed must be positive")
    return args


async def run(args: argparse.Namespace) -> None:
    """Serve until SIGINT or SIGTERM, then stop answering and release the port."""
    secret = get_settings().bot_secret.get_secret_value()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with httpx.AsyncClient(base_url=args.api, timeout=10.0) as api:
        sim = StewardSim(
            api,
            secret,
            random.Random(args.seed),
            decline_rate=args.decline_rate,
            ignore_rate=args.ignore_rate,
            speed=args.speed,
        )
        gateway = FakeGateway(secret, host=args.host, port=args.port, on_message=sim.on_message)
        async with gateway:
            log.info("listening: set GRIDPLUS_BOT_GATEWAY_URL=%s for the worker", gateway.url)
            reporter = (
                asyncio.create_task(
                    report_forever(api, random.Random(args.seed), args.report_every)
                )
                if args.report_every > 0
                else None
            )
            await stop.wait()
            log.info("stopping")
            if reporter is not None:
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reporter
        await sim.close()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, RuntimeError):
            loop.remove_signal_handler(sig)
    log.info("done: %s", dict(sorted(sim.stats.items())) or "nothing received")


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s steward-sim %(levelname)s %(message)s"
    )
    asyncio.run(run(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
