"""Chapter 02: ask several slow upstream services at once, with a timeout on each call.

Goal: fetch_quotes(urls, timeout) returns one entry per URL, in the same order:
the JSON body that URL answered, or None when it did not answer within
`timeout` seconds. Three upstreams that each take 0.6 s should cost about 0.6 s
in all, not 1.8 s, and one upstream that never answers must not hold up the rest.
An upstream that answers with an error status (say 503) did answer: its JSON
body goes in the list as it is.

Check it: run check("ch02_async_client") in the notebook, or `course check ch02_async_client` in a terminal.
"""

import asyncio

import httpx


async def fetch_quotes(urls: list[str], timeout: float) -> list[dict | None]:
    async with httpx.AsyncClient() as client:

        async def one(url: str) -> dict | None:
            # The timeout belongs to this one call: a silent upstream turns into
            # None, the others are unharmed. httpx applies it to each phase
            # (connect, read, write, pool), not to the call as a whole; for one
            # total deadline, wrap the call in `async with asyncio.timeout(timeout):`
            # and catch TimeoutError instead.
            try:
                response = await client.get(url, timeout=timeout)
            except httpx.TimeoutException:
                return None
            return response.json()

        # gather starts every call before waiting for any of them, and returns
        # the results in the order of `urls`, whatever order they finish in.
        return list(await asyncio.gather(*(one(url) for url in urls)))
