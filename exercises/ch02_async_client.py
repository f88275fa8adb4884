"""Chapter 02: ask several slow upstream services at once, with a timeout on each call.

Goal: fetch_quotes(urls, timeout) returns one entry per URL, in the same order:
the JSON body that URL answered, or None when it did not answer within
`timeout` seconds. Three upstreams that each take 0.6 s should cost about 0.6 s
in all, not 1.8 s, and one upstream that never answers must not hold up the rest.
An upstream that answers with an error status (say 503) did answer: its JSON
body goes in the list as it is.

Check it: run check("ch02_async_client") in the notebook, or `course check ch02_async_client` in a terminal.
"""

import httpx


async def fetch_quotes(urls: list[str], timeout: float) -> list[dict | None]:
    async with httpx.AsyncClient() as client:
        quotes = []
        # TODO: call every URL at the same time (not one after another), give each
        # call its own `timeout`, and put None where an upstream did not answer in time.
        for url in urls:
            response = await client.get(url)
            quotes.append(response.json())
        return quotes
