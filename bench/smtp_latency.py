#!/usr/bin/env python3
"""Latency of the reply to end-of-data: SESSIONS parallel SMTP sessions (asyncio), each sending
its share of MESSAGES messages of SIZE bytes, timing each from the final "." to the 250.

usage: smtp_latency.py HOST:PORT MESSAGES SESSIONS SIZE
prints one JSON line: messages, seconds, per_second, p50_ms, p99_ms, max_ms
"""
import asyncio
import json
import sys
import time


async def reply(reader):
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed")
        if line[3:4] != b"-":
            return line


async def session(host, port, count, body, latencies):
    reader, writer = await asyncio.open_connection(host, port)
    await reply(reader)
    writer.write(b"EHLO latency.test\r\n")
    await reply(reader)
    for _ in range(count):
        writer.write(b"MAIL FROM:<news@acme.example>\r\n")
        assert (await reply(reader)).startswith(b"250")
        writer.write(b"RCPT TO:<ann@dest.example>\r\n")
        assert (await reply(reader)).startswith(b"250")
        writer.write(b"DATA\r\n")
        assert (await reply(reader)).startswith(b"354")
        writer.write(body)
        start = time.perf_counter()
        writer.write(b".\r\n")
        answer = await reply(reader)
        latencies.append(time.perf_counter() - start)
        assert answer.startswith(b"250"), answer
    writer.write(b"QUIT\r\n")
    await reply(reader)
    writer.close()


async def main():
    host, port = sys.argv[1].rsplit(":", 1)
    messages, sessions, size = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    line = b"x" * 78 + b"\r\n"
    body = b"From: <news@acme.example>\r\nTo: <ann@dest.example>\r\nSubject: latency\r\n\r\n" + line * max(1, size // len(line))
    latencies = []
    start = time.perf_counter()
    shares = [messages // sessions + (1 if i < messages % sessions else 0) for i in range(sessions)]
    await asyncio.gather(*(session(host, int(port), share, body, latencies) for share in shares))
    seconds = time.perf_counter() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    print(json.dumps({"messages": len(latencies), "seconds": round(seconds, 3), "per_second": round(len(latencies) / seconds),
                      "p50_ms": round(pick(0.50), 2), "p99_ms": round(pick(0.99), 2), "max_ms": round(latencies[-1] * 1000, 2)}))


asyncio.run(main())
