"""Python's side of `cargo bench --bench scale`'s CPU figure: the same job
(counting primes below 600,000 by trial division, in pure Python, so a
smaller bound keeps it to seconds) once inline, then two at once through
asyncio.to_thread (threads: the GIL lets one run at a time) and through a
ProcessPoolExecutor (processes: both cores).

Prints BENCH lines like the Rust benches:
  BENCH name=py_cpu_2_jobs via=to_thread speedup=<x>
  BENCH name=py_cpu_2_jobs via=process_pool speedup=<x>
Median of three runs. Run: python3 benches/python/cpu_pool.py
"""

import asyncio
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

JOB = 60_000


def count_primes(n):
    count = 0
    for k in range(2, n):
        d = 2
        while d * d <= k:
            if k % d == 0:
                break
            d += 1
        else:
            count += 1
    return count


async def two_in_threads():
    await asyncio.gather(asyncio.to_thread(count_primes, JOB), asyncio.to_thread(count_primes, JOB))


async def two_in_processes(pool):
    loop = asyncio.get_running_loop()
    await asyncio.gather(
        loop.run_in_executor(pool, count_primes, JOB),
        loop.run_in_executor(pool, count_primes, JOB),
    )


def main():
    threads, processes = [], []
    with ProcessPoolExecutor(max_workers=2) as pool:
        pool.submit(count_primes, 10).result()  # start the workers
        for _ in range(3):
            t = time.perf_counter()
            count_primes(JOB)
            inline = time.perf_counter() - t
            t = time.perf_counter()
            asyncio.run(two_in_threads())
            threads.append(2 * inline / (time.perf_counter() - t))
            t = time.perf_counter()
            asyncio.run(two_in_processes(pool))
            processes.append(2 * inline / (time.perf_counter() - t))
    print(f"BENCH name=py_cpu_2_jobs via=to_thread speedup={statistics.median(threads):.2f}")
    print(f"BENCH name=py_cpu_2_jobs via=process_pool speedup={statistics.median(processes):.2f}")


if __name__ == "__main__":
    main()
