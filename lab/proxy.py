"""A TCP delay proxy: adds a fixed one-way delay to every chunk in both directions.

The kernel here cannot load netem, so this stands between the lab hosts and the
databases to make a connect cost what it cost in the incident. The delay is read from
a JSON file at each new connection, so it can be changed (or set to 0) while running.
Run as: python -m lab.proxy CONFIG.json
"""
from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path


def load_routes(config_path: Path) -> dict:
    return json.loads(config_path.read_text())


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    """Copy reader to writer, each chunk released `delay_s` after it arrived (order kept)."""
    queue: asyncio.Queue = asyncio.Queue()

    async def release() -> None:
        while True:
            arrived, data = await queue.get()
            if data is None:
                break
            wait = arrived + delay_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    releaser = asyncio.create_task(release())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((time.monotonic(), data))
    except ConnectionError:
        pass
    queue.put_nowait((time.monotonic(), None))
    try:
        await releaser
    except ConnectionError:
        pass


def _handler(config_path: Path, upstream: tuple[str, int]):
    async def handle(client_r, client_w) -> None:
        delay_s = load_routes(config_path).get("delay_ms", 0) / 1000
        try:
            server_r, server_w = await asyncio.open_connection(*upstream)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pump(client_r, server_w, delay_s), _pump(server_r, client_w, delay_s),
                             return_exceptions=True)
        for w in (client_w, server_w):
            w.close()
    return handle


async def serve(config_path: Path) -> None:
    routes = load_routes(config_path)
    servers = []
    for route in routes["routes"]:
        handler = _handler(config_path, (route["upstream_host"], route["upstream_port"]))
        servers.append(await asyncio.start_server(handler, route["listen_host"], route["listen_port"],
                                                  reuse_address=True))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1])))
