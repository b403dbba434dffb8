"""The same comparisons on Python's asyncio (and uvloop when installed).

Prints BENCH lines like the Rust benches:
  BENCH name=py_switch loop=asyncio ns=...
  BENCH name=py_spawn_join loop=asyncio ns=...
  BENCH name=py_depth_<d> loop=asyncio ns=...      (d = 1, 10, 100, 500: Python's
                                                    recursion limit stops 1000)
  BENCH name=py_idle_task_bytes loop=asyncio bytes=...
Medians of several runs. Run: python3 benches/python/bench_asyncio.py
"""

import asyncio
import gc
import statistics
import sys
import time


def median_ns(batches, n, run):
    run(max(1, n // 10))  # warm up
    samples = []
    for _ in range(batches):
        t = time.perf_counter_ns()
        run(n)
        samples.append((time.perf_counter_ns() - t) / n)
    return statistics.median(samples)


def switch(n):
    async def spin(k):
        for _ in range(k):
            await asyncio.sleep(0)

    async def main():
        await asyncio.gather(spin(n // 2), spin(n // 2))

    asyncio.run(main())


def spawn_join(n):
    async def trivial(i):
        return i

    async def main():
        tasks = [asyncio.create_task(trivial(i)) for i in range(n)]
        for t in tasks:
            await t

    asyncio.run(main())


async def chain(depth, pauses):
    if depth == 0:
        for _ in range(pauses):
            await asyncio.sleep(0)
    else:
        await chain(depth - 1, pauses)


def depth_run(depth):
    return lambda n: asyncio.run(chain(depth, n))


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def idle_bytes(n=100_000):
    async def main():
        ev = asyncio.Event()
        gc.collect()
        before = rss_bytes()
        tasks = [asyncio.create_task(ev.wait()) for _ in range(n)]
        await asyncio.sleep(0)
        per = (rss_bytes() - before) / n
        ev.set()
        await asyncio.gather(*tasks)
        return per

    return asyncio.run(main())


def run_all(label):
    print(f"BENCH name=py_switch loop={label} ns={median_ns(5, 100_000, switch):.1f}")
    print(f"BENCH name=py_spawn_join loop={label} ns={median_ns(5, 20_000, spawn_join):.1f}")
    for d in (1, 10, 100, 500):
        print(f"BENCH name=py_depth_{d} loop={label} ns={median_ns(5, 5_000, depth_run(d)):.1f}")
    print(f"BENCH name=py_idle_task_bytes loop={label} bytes={idle_bytes():.0f}")


if __name__ == "__main__":
    sys.setrecursionlimit(5000)
    print(f"# python {sys.version.split()[0]}")
    run_all("asyncio")
    try:
        import uvloop
    except ImportError:
        print("# uvloop is not installed: `pip install uvloop` to add its rows")
    else:
        uvloop.install()
        run_all("uvloop")
