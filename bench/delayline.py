#!/usr/bin/python3
"""A TCP delay line: forwards connections to an upstream, holding every chunk
of data for DELAY ms in each direction, without limiting throughput. It turns
a loopback server into one that is a cloud round trip away (there is no tc
netem in these kernels).

  delayline.py --listen 127.0.0.1:0 --upstream 127.0.0.1:4568 --delay-ms 10

Prints "ready PORT" once listening.
"""
import argparse
import asyncio
import time


async def pump(reader, writer, delay):
    queue = asyncio.Queue()

    async def sender():
        try:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    break
                writer.write(data)
                await writer.drain()
            writer.write_eof()
        except OSError:
            pass  # the peer went away: so does this direction

    task = asyncio.ensure_future(sender())
    try:
        while True:
            data = await reader.read(1 << 16)
            queue.put_nowait((time.monotonic() + delay, data or None))
            if not data:
                break
    except OSError:
        queue.put_nowait((0, None))
    await task


async def handle(client_r, client_w, upstream, delay):
    try:
        up_r, up_w = await asyncio.open_connection(*upstream)
    except OSError:
        client_w.close()
        return
    try:
        await asyncio.gather(pump(client_r, up_w, delay), pump(up_r, client_w, delay),
                             return_exceptions=True)
    finally:
        client_w.close()
        up_w.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--delay-ms", type=float, default=10)
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    uh, up = a.upstream.rsplit(":", 1)
    delay = a.delay_ms / 1000
    srv = await asyncio.start_server(lambda r, w: handle(r, w, (uh, int(up)), delay),
                                     host, int(port))
    print(f"ready {srv.sockets[0].getsockname()[1]}", flush=True)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
