"""Holds many SSE streams open from one process (asyncio, raw sockets):

    python -m bench.sse_client HOST PORT PATH AUTH COUNT READYFILE

opens COUNT ``GET PATH`` streams, writes "<open> <refused>" to READYFILE once
every one has answered its status line, and keeps reading them until ended.
"""

import asyncio
import sys
from pathlib import Path


async def hold(host: str, port: int, path: str, auth: str, results: list, stop: asyncio.Event) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n"
            f"Accept: text/event-stream\r\n\r\n".encode()
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 60)
    except (OSError, TimeoutError):
        results.append(False)
        return
    ok = b" 200 " in status
    results.append(ok)
    if not ok:
        writer.close()
        return
    while not stop.is_set():
        try:
            if not await reader.read(4096):
                return
        except OSError:
            return


async def main() -> None:
    host, port, path, auth, count, ready = (
        sys.argv[1],
        int(sys.argv[2]),
        sys.argv[3],
        sys.argv[4],
        int(sys.argv[5]),
        Path(sys.argv[6]),
    )
    results: list[bool] = []
    stop = asyncio.Event()
    tasks = []
    for _ in range(count):
        tasks.append(asyncio.create_task(hold(host, port, path, auth, results, stop)))
        if len(tasks) % 50 == 0:
            await asyncio.sleep(0.05)  # a connect burst, not a SYN flood
    while len(results) < count:
        await asyncio.sleep(0.1)
    ready.write_text(f"{sum(results)} {count - sum(results)}")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
