#!/usr/bin/env python3
"""A/B of the echo server between two commits: server user CPU per round trip.

    python3 benches/ab_echo.py A B [--conns 10000] [--pairs 3] [--secs 10]

Each commit's `net` bench binary is built once, in a worktree of its own
(`target/ab/<commit>/`; one target directory shared by all, so only the
crate itself is rebuilt; the binary kept as `target/ab/<commit>/net` for
the next run), and run as the echo server
(`--server ours`); one client, the `--measure` mode of the bench binary of
the working tree, drives both, so only the server differs. Runs alternate
A-B, B-A, ... (the second of a pair runs right after the first's sockets
were torn down, so neither commit always gets that seat), pinned: the
server to core 0, the client to core 1. Prints each run, then the medians
and the ratio B/A:

    AB name=echo_c10000 a=<commit> b=<commit> a_cpu_us=.. b_cpu_us=.. ratio=..
       a_rps=.. b_rps=.. pairs=N

Run it for any change on the switch, wake or socket paths (see the
decision log's checklist): `python3 benches/ab_echo.py HEAD~1 HEAD`.
Loopback only; every run is bounded by its window.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def bench_binary(target_dir, cwd):
    """Builds the `net` bench in `cwd` into `target_dir`; its path."""
    out = subprocess.run(
        ["cargo", "bench", "--bench", "net", "--no-run", "--message-format=json"],
        cwd=cwd,
        env={**os.environ, "CARGO_TARGET_DIR": target_dir},
        check=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ).stdout
    for line in out.splitlines():
        m = json.loads(line)
        if m.get("reason") == "compiler-artifact" and m.get("executable") \
                and m["target"]["name"] == "net":
            return m["executable"]
    sys.exit(f"no net bench binary built in {cwd}")


def build_commit(commit):
    """The `net` bench binary of `commit`, built in a worktree once."""
    sha = subprocess.run(["git", "rev-parse", commit], cwd=ROOT, check=True,
                         stdout=subprocess.PIPE, text=True).stdout.strip()
    base = os.path.join(ROOT, "target", "ab", sha[:12])
    kept = os.path.join(base, "net")
    if os.path.exists(kept):
        return sha[:12], kept
    tree = os.path.join(base, "tree")
    if not os.path.isdir(tree):
        os.makedirs(base, exist_ok=True)
        sh("git", "worktree", "add", "--detach", tree, sha, cwd=ROOT,
           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"# building {commit} ({sha[:12]})", file=sys.stderr, flush=True)
    built = bench_binary(os.path.join(ROOT, "target", "ab", "shared-target"), tree)
    shutil.copy2(built, kept)
    return sha[:12], kept


def one_run(server_bin, client_bin, conns, secs):
    """Starts `server_bin` as the echo server on core 0, measures it with
    the client on core 1: (round trips/s, server user CPU µs per trip)."""
    server = subprocess.Popen(
        ["taskset", "-c", "0", server_bin, "--server", "ours"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        addr = server.stdout.readline().strip()
        out = subprocess.run(
            ["taskset", "-c", "1", client_bin, "--measure", addr,
             str(server.pid), str(conns), str(secs)],
            check=True, stdout=subprocess.PIPE, text=True).stdout
    finally:
        server.stdin.close()  # the server exits when its stdin closes
        server.wait(timeout=60)
    fields = dict(kv.split("=") for kv in out.split())
    return float(fields["rps"]), float(fields["cpu_us"])


COUNTERS = (("I   refs", "instr"), ("D1  misses", "d1_miss"), ("LL misses", "ll_miss"))


def counted_run(server_bin, client_bin, conns, k, server_kind="ours"):
    """Runs `server_bin` under cachegrind while the client makes `k` round
    trips on each of `conns` connections: {counter: total} for the server's
    whole life (start-up, connecting, the trips, shutdown)."""
    server = subprocess.Popen(
        ["taskset", "-c", "0", "valgrind", "--tool=cachegrind", "--cache-sim=yes",
         "--cachegrind-out-file=/dev/null", server_bin, "--server", server_kind],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        addr = server.stdout.readline().strip()
        subprocess.run(["taskset", "-c", "1", client_bin, "--trips", addr,
                        str(conns), str(k)], check=True, stdout=subprocess.DEVNULL)
    finally:
        err = server.communicate(input="", timeout=300)[1]
    found = {}
    for line in err.splitlines():
        for label, key in COUNTERS:
            if label in line:
                found[key] = int(line.split(":")[1].split()[0].replace(",", ""))
    if len(found) != len(COUNTERS):
        sys.exit(f"cachegrind gave no summary:\n{err[-2000:]}")
    return found


def per_trip(server_bin, client_bin, conns, kind="ours", k1=2, k2=12):
    """Counters per round trip: the difference between a run of `k2` and a
    run of `k1` trips per connection, over the extra trips, so that start-up,
    connecting and shutdown cancel out."""
    lo = counted_run(server_bin, client_bin, conns, k1, kind)
    hi = counted_run(server_bin, client_bin, conns, k2, kind)
    return {key: (hi[key] - lo[key]) / (conns * (k2 - k1)) for key in lo}


def count_main(args, client):
    """--count: instructions and simulated cache misses per round trip of
    each commit's server (and tokio's, built with the first), each `--pairs`
    times. Cachegrind's counts do not depend on the machine's load, so this
    mode ranks commits where a timing's spread (±10 % a run) would hide a
    few per cent; it does not see what cachegrind does not model (the TLB,
    branch prediction, hardware prefetching)."""
    rows = []
    for commit in args.commits:
        sha, binary = build_commit(commit)
        rows.append((sha, binary, "ours"))
    rows.append(("tokio", rows[0][1], "tokio"))
    for sha, binary, kind in rows:
        runs = [per_trip(binary, client, args.conns, kind) for _ in range(args.pairs)]
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        spread = max(r["instr"] for r in runs) - min(r["instr"] for r in runs)
        print(f"COUNT name=echo_c{args.conns} build={sha} "
              + " ".join(f"{k}={v:.1f}" for k, v in med.items())
              + f" instr_spread={spread:.1f} runs={args.pairs}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("commits", nargs="+",
                   help="A B (timing), or any number of commits (--count)")
    p.add_argument("--conns", type=int, default=10_000)
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--secs", type=int, default=10)
    p.add_argument("--count", action="store_true",
                   help="count instructions and simulated cache misses per "
                        "round trip under cachegrind instead of timing")
    args = p.parse_args()
    client = bench_binary(os.path.join(ROOT, "target"), ROOT)
    if args.count:
        return count_main(args, client)
    if len(args.commits) != 2:
        p.error("timing compares two commits: A B")
    args.a, args.b = args.commits
    a_sha, a_bin = build_commit(args.a)
    b_sha, b_bin = build_commit(args.b)
    runs = {"a": [], "b": []}
    for pair in range(args.pairs):
        order = [("a", a_bin), ("b", b_bin)]
        if pair % 2:
            order.reverse()
        for side, binary in order:
            rps, cpu = one_run(binary, client, args.conns, args.secs)
            runs[side].append((rps, cpu))
            print(f"# pair {pair + 1} {side}: rps={rps:.0f} cpu_us={cpu:.3f}",
                  file=sys.stderr, flush=True)
    med = {s: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v))
           for s, v in runs.items()}
    print(f"AB name=echo_c{args.conns} a={a_sha} b={b_sha} "
          f"a_cpu_us={med['a'][1]:.3f} b_cpu_us={med['b'][1]:.3f} "
          f"ratio={med['b'][1] / med['a'][1]:.3f} "
          f"a_rps={med['a'][0]:.0f} b_rps={med['b'][0]:.0f} pairs={args.pairs}")


if __name__ == "__main__":
    main()
