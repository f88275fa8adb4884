"""The timeout set once on the client (it applies to every call), and a TaskGroup instead of gather."""

import asyncio

import httpx


async def fetch_quotes(urls, timeout):
    async def one(client, url):
        try:
            response = await client.get(url)
        except httpx.TimeoutException:
            return None
        return response.json()

    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout)) as client:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(client, url)) for url in urls]
    return [task.result() for task in tasks]
