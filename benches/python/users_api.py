"""The tutorial's own stack for `cargo bench --bench users_api`: FastAPI on
uvicorn with an asyncpg pool of 8, serving GET /users (every row of the
users table as JSON), the same query and JSON as the Rust servers.

Run: python3 benches/python/users_api.py PORT DSN
(needs `pip install fastapi uvicorn asyncpg`; uvicorn uses uvloop and
httptools when they are installed, as `uvicorn[standard]` does.)
"""

import contextlib
import sys

import asyncpg
import uvicorn
from fastapi import FastAPI

PORT = int(sys.argv[1])
DSN = sys.argv[2]
pool = None


@contextlib.asynccontextmanager
async def lifespan(app):
    global pool
    pool = await asyncpg.create_pool(DSN, min_size=8, max_size=8)
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/users")
async def get_users():
    rows = await pool.fetch("SELECT id, name, email FROM users ORDER BY id")
    return [dict(r) for r in rows]


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning", access_log=False)
