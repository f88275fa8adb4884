"""A total deadline per call with asyncio.timeout (httpx's timeout= is per phase, not a total)."""

import asyncio

import httpx


async def fetch_quotes(urls, timeout):
    async with httpx.AsyncClient() as client:

        async def one(url):
            try:
                async with asyncio.timeout(timeout):
                    response = await client.get(url)
            except TimeoutError:
                return None
            return response.json()

        return await asyncio.gather(*(one(url) for url in urls))
