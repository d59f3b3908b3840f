"""What a hostile VM (or a container in one) does to the metadata service; run inside its
network namespace, prints JSON.

  hostile.py bodies N SIZE [SOURCE]   N connections at once, each a token PUT announcing
                                      SIZE bytes of body and sending them
  hostile.py halfopen N SECONDS       N connections whose headers never end, held
                                      SECONDS: when did the service close each
  hostile.py hangup N                 N connections that hang up halfway through a body
  hostile.py flood SECONDS CONNS      requests as fast as CONNS keep-alive connections go
  hostile.py tokens N CONNS           N token PUTs over CONNS keep-alive connections
  hostile.py request METHOD PATH [TIMEOUT [NAME: VALUE ...]]
                                      one request, its header values sent as UTF-8 bytes
"""

import asyncio
import json
import resource
import sys
import time

ADDRESS = "169.254.169.254"
TTL = b"X-aws-ec2-metadata-token-ttl-seconds: 60\r\n"


def _status(data: bytes):
    if data.startswith(b"HTTP/1.1 "):
        return int(data[9:12])
    return None


async def _open(source=None):
    return await asyncio.open_connection(ADDRESS, 80,
                                         local_addr=(source, 0) if source else None)


async def _answer(reader):
    """One answer on a keep-alive connection: (status, headers)."""
    head = await reader.readuntil(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get("content-length", "0")))
    return _status(head), headers


async def bodies(count: int, size: int, source=None) -> dict:
    head = (f"PUT /latest/api/token HTTP/1.1\r\nHost: {ADDRESS}\r\n".encode() + TTL +
            f"Content-Length: {size}\r\n\r\n".encode())
    chunk = b"x" * 65536

    async def one():
        try:
            reader, writer = await _open(source)
        except OSError as err:
            return f"connect: {type(err).__name__}", 0
        writer.write(head)
        answer = asyncio.ensure_future(reader.read(64))
        sent = 0
        try:
            while sent < size and not answer.done():
                part = chunk[:min(len(chunk), size - sent)]
                writer.write(part)
                sent += len(part)
                await asyncio.wait_for(writer.drain(), 10)
        except (OSError, asyncio.TimeoutError):
            pass
        try:
            data = await asyncio.wait_for(answer, 10)
        except (OSError, asyncio.TimeoutError):
            data = b""
        writer.close()
        return (_status(data) or "closed without an answer"), sent

    results = await asyncio.gather(*(one() for _ in range(count)))
    statuses = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {"statuses": statuses, "bytes_sent": sum(sent for _, sent in results)}


async def halfopen(count: int, seconds: float) -> dict:
    started = time.monotonic()
    closed, answers, failed = [], {}, 0

    async def watch(reader):
        try:
            data = await reader.read(200)
            status = _status(data)
            if status is not None:
                answers[str(status)] = answers.get(str(status), 0) + 1
        except OSError:
            pass
        closed.append(time.monotonic() - started)

    tasks, writers = [], []
    for _ in range(count):
        try:
            reader, writer = await _open()
        except OSError:
            failed += 1
            continue
        writer.write(f"GET /latest/meta-data/ HTTP/1.1\r\nHost: {ADDRESS}\r\nX-Slow: ".encode())
        writers.append(writer)
        tasks.append(asyncio.ensure_future(watch(reader)))
    await asyncio.sleep(max(0.0, seconds - (time.monotonic() - started)))
    for writer in writers:
        writer.close()
    return {"opened": len(writers), "connect_failed": failed, "answers": answers,
            "closed_after": sorted(closed), "still_open": len(writers) - len(closed)}


async def hangup(count: int) -> dict:
    done = 0
    for _ in range(count):
        reader, writer = await _open()
        writer.write(f"PUT /latest/api/token HTTP/1.1\r\nHost: {ADDRESS}\r\n".encode() + TTL +
                     b"Content-Length: 900\r\n\r\n" + b"x" * 300)
        await writer.drain()
        writer.transport.abort()
        done += 1
    return {"hung_up": done}


async def flood(seconds: float, conns: int) -> dict:
    request = (f"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: {ADDRESS}\r\n\r\n"
               ).encode()
    statuses, retry_after = {}, set()
    deadline = time.monotonic() + seconds

    async def one():
        reader, writer = await _open()
        while time.monotonic() < deadline:
            writer.write(request)
            try:
                status, headers = await asyncio.wait_for(_answer(reader), 5)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                statuses["error"] = statuses.get("error", 0) + 1
                writer.close()
                reader, writer = await _open()
                continue
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if "retry-after" in headers:
                retry_after.add(headers["retry-after"])
        writer.close()

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(conns)))
    total = sum(statuses.values())
    return {"statuses": statuses, "retry_after": sorted(retry_after),
            "per_second": total / (time.monotonic() - started)}


async def tokens(count: int, conns: int) -> dict:
    request = f"PUT /latest/api/token HTTP/1.1\r\nHost: {ADDRESS}\r\n".encode() + TTL + b"\r\n"
    statuses = {}

    async def one(share: int):
        reader, writer = await _open()
        for _ in range(share):
            writer.write(request)
            status, _ = await _answer(reader)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        writer.close()

    await asyncio.gather(*(one(count // conns) for _ in range(conns)))
    return {"statuses": statuses}


async def request(method: str, path: str, timeout: float, headers) -> dict:
    try:
        reader, writer = await _open()
    except OSError as err:
        return {"status": None, "error": str(err)}
    head = f"{method} {path} HTTP/1.1\r\nHost: {ADDRESS}\r\n".encode()
    for header in headers:
        head += header.encode("utf-8", "surrogateescape") + b"\r\n"
    writer.write(head + b"Connection: close\r\n\r\n")
    try:
        data = await asyncio.wait_for(reader.read(-1), timeout)
    except asyncio.TimeoutError:
        return {"status": None, "timeout": True}
    except OSError as err:
        return {"status": None, "error": str(err)}
    finally:
        writer.close()
    _, _, body = data.partition(b"\r\n\r\n")
    return {"status": _status(data), "body": body.decode("latin-1"), "timeout": False}


def main(argv) -> dict:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    what, args = argv[0], argv[1:]
    if what == "bodies":
        return asyncio.run(bodies(int(args[0]), int(args[1]), args[2] if args[2:] else None))
    if what == "halfopen":
        return asyncio.run(halfopen(int(args[0]), float(args[1])))
    if what == "hangup":
        return asyncio.run(hangup(int(args[0])))
    if what == "flood":
        return asyncio.run(flood(float(args[0]), int(args[1])))
    if what == "tokens":
        return asyncio.run(tokens(int(args[0]), int(args[1])))
    if what == "request":
        timeout = float(args[2]) if args[2:] else 5.0
        return asyncio.run(request(args[0], args[1], timeout, args[3:]))
    raise SystemExit(__doc__)


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
