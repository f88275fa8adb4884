"""Calls response.raise_for_status() "to be safe": one upstream answering 503 raises out of gather,
and every other quote is lost with it.

Fails: HTTPStatusError
"""

import asyncio

import httpx


async def fetch_quotes(urls: list[str], timeout: float) -> list[dict | None]:
    async with httpx.AsyncClient() as client:

        async def one(url: str) -> dict | None:
            try:
                response = await client.get(url, timeout=timeout)
            except httpx.TimeoutException:
                return None
            response.raise_for_status()
            return response.json()

        return list(await asyncio.gather(*(one(url) for url in urls)))
