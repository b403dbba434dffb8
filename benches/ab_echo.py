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


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--conns", type=int, default=10_000)
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--secs", type=int, default=10)
    args = p.parse_args()
    client = bench_binary(os.path.join(ROOT, "target"), ROOT)
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
            print(f"# pair {pair + 1} {side}: rps={rps:.0} cpu_us={cpu:.3}",
                  file=sys.stderr, flush=True)
    med = {s: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v))
           for s, v in runs.items()}
    print(f"AB name=echo_c{args.conns} a={a_sha} b={b_sha} "
          f"a_cpu_us={med['a'][1]:.3f} b_cpu_us={med['b'][1]:.3f} "
          f"ratio={med['b'][1] / med['a'][1]:.3f} "
          f"a_rps={med['a'][0]:.0f} b_rps={med['b'][0]:.0f} pairs={args.pairs}")


if __name__ == "__main__":
    main()
