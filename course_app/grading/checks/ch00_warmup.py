"""Check for ch00_warmup: a greeting endpoint, served for real and called over HTTP."""

from types import ModuleType

from course_app.grading.checker import T
from course_app.grading.kit import http_client, learner_app, serve


async def check(learner: ModuleType, t: T) -> None:
    async with serve(learner_app(learner)) as server, http_client(server) as client:
        for name in ("Ada", "Grace"):
            with t.step(f"GET /hello?name={name} greets {name}"):
                response = await client.get("/hello", params={"name": name})
                t.expect(response.status_code == 200, expected="status 200", got=f"status {response.status_code}")
                t.expect(response.json() == {"message": f"Hello, {name}!"},
                         expected=f'{{"message": "Hello, {name}!"}}', got=response.json())
        with t.step("GET /hello with no name greets the world"):
            body = (await client.get("/hello")).json()
            t.expect(body == {"message": "Hello, world!"}, expected='{"message": "Hello, world!"}', got=body)
