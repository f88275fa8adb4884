"""Check for ch00_warmup: a greeting endpoint, served for real and called over HTTP.

The names change on every run (non-ASCII, spaces, punctuation that means
something in a URL), so only code that greets the name it was given passes.
"""

from types import ModuleType

import httpx

from course_app.grading.checker import T
from course_app.grading.checks._inputs import seeded
from course_app.grading.kit import http_client, learner_app, serve

EXAMPLE = "Ada"
# One name from each group per run: each group trips a different careless edit.
NAME_GROUPS = (
    ("ngozi", "van Rossum", "dj Mehdi", "McDonald"),           # case matters
    ("Zoë", "José María", "Łukasz", "李雷", "Ana-Sofía", "Þór"),  # not ASCII
    ("A&B", "50% off", "a+b", "x=1", "#1 fan", "O'Brien"),      # URL syntax, punctuation
)


def _expect_greeting(t: T, response: httpx.Response, name: str) -> None:
    wanted = {"message": f"Hello, {name}!"}
    t.expect(response.status_code == 200, expected="status 200",
             got=f"status {response.status_code}: {response.text[:200]}")
    try:
        body = response.json()
    except ValueError:
        body = response.text
    t.expect(body == wanted, expected=f"exactly {_json(wanted)}", got=_json(body),
             message=f"GET /hello with name={_json(name)}")


def _json(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


async def check(learner: ModuleType, t: T) -> None:
    with seeded(t) as rng:
        names = [rng.choice(group) for group in NAME_GROUPS]
        rng.shuffle(names)
        async with serve(learner_app(learner)) as server, http_client(server) as client:
            with t.step(f"GET /hello?name={EXAMPLE} greets {EXAMPLE}"):
                _expect_greeting(t, await client.get("/hello", params={"name": EXAMPLE}), EXAMPLE)

            with t.step("GET /hello?name=... greets any name as given (accents, spaces, punctuation)"):
                for name in names:
                    _expect_greeting(t, await client.get("/hello", params={"name": name}), name)

            with t.step("GET /hello with no name greets the world"):
                response = await client.get("/hello")
                t.expect(response.status_code == 200, expected="status 200 (the name is optional)",
                         got=f"status {response.status_code}: {response.text[:200]}")
                body = response.json()
                t.expect(body == {"message": "Hello, world!"}, expected='exactly {"message": "Hello, world!"}', got=_json(body))
