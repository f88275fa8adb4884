"""Puts one timeout around the whole gather: a single silent upstream sinks every answer.

Fails: never answers becomes None
"""

import asyncio

import httpx


async def fetch_quotes(urls: list[str], timeout: float) -> list[dict | None]:
    async with httpx.AsyncClient() as client:
        responses = await asyncio.wait_for(asyncio.gather(*(client.get(url) for url in urls)), timeout)
        return [r.json() for r in responses]
