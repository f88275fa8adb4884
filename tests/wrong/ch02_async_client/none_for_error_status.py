"""Treats an error status like a timeout (raise_for_status, then None for any httpx error): the
upstream did answer, and the caller loses its error body.

Fails: the error's body included
"""

import asyncio

import httpx


async def fetch_quotes(urls: list[str], timeout: float) -> list[dict | None]:
    async with httpx.AsyncClient() as client:

        async def one(url: str) -> dict | None:
            try:
                response = await client.get(url, timeout=timeout)
                response.raise_for_status()
            except httpx.HTTPError:
                return None
            return response.json()

        return list(await asyncio.gather(*(one(url) for url in urls)))
