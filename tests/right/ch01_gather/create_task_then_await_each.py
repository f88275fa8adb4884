"""Starts every task first, then awaits them in input order (they all run meanwhile)."""

import asyncio


async def fetch_all(fetch, items):
    tasks = [asyncio.create_task(fetch(item)) for item in items]
    return [await task for task in tasks]
