"""Uses the synchronous httpx.Client inside async def: each call blocks the loop until it returns.

Fails: the event loop was blocked
"""

import httpx


async def fetch_quotes(urls: list[str], timeout: float) -> list[dict | None]:
    quotes = []
    with httpx.Client(timeout=timeout) as client:
        for url in urls:
            try:
                quotes.append(client.get(url).json())
            except httpx.TimeoutException:
                quotes.append(None)
    return quotes
