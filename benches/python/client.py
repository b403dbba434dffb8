"""The client bench's Python peers: aiohttp and httpx, N tasks asking in a
loop; prints `requests cpu_seconds seconds` for the measured window.

usage: client.py aiohttp|httpx URL CONCURRENCY CA_FILE WARM_S WINDOW_S
"""
import asyncio
import resource
import ssl
import sys
import time


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main(kind, url, conc, ca, warm, window):
    ctx = ssl.create_default_context(cafile=ca)
    count = 0
    stop = False
    if kind == "aiohttp":
        import aiohttp

        connector = aiohttp.TCPConnector(limit=conc, ssl=ctx)
        session = aiohttp.ClientSession(connector=connector)

        async def one():
            async with session.get(url) as r:
                await r.read()
    else:
        import httpx

        limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
        session = httpx.AsyncClient(verify=ctx, limits=limits)

        async def one():
            r = await session.get(url)
            r.read()

    async def worker():
        nonlocal count
        while not stop:
            await one()
            count += 1

    tasks = [asyncio.create_task(worker()) for _ in range(conc)]
    await asyncio.sleep(warm)
    n0, c0, t0 = count, cpu(), time.monotonic()
    await asyncio.sleep(window)
    n1, c1, t1 = count, cpu(), time.monotonic()
    stop = True
    await asyncio.gather(*tasks)
    if kind == "aiohttp":
        await session.close()
    else:
        await session.aclose()
    print(n1 - n0, c1 - c0, t1 - t0)


kind, url, conc, ca, warm, window = sys.argv[1:7]
asyncio.run(main(kind, url, int(conc), ca, float(warm), float(window)))
