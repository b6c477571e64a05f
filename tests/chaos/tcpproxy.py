#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""tcpproxy.py - a TCP forwarder that can be partitioned, for the chaos tests.

One proxy stands between one client (a kubepulse replica) and one server (the
kube-apiserver). It forwards bytes unchanged (TLS passes through end to end), so the client
sees the real server, with one extra switch:

- ``blackhole``: forwarding stops in both directions. Open connections are held: nothing is
  read from either side and nothing is closed, so the client sees silence, exactly like
  packets dropped by a partition (its requests time out; no RST, no FIN). New connections
  are accepted and held too, without connecting upstream.
- ``heal``: forwarding resumes. Held connections carry on where they stopped (what each side
  wrote meanwhile sits in the kernel buffers, like TCP retransmissions after a partition);
  a side that gave up and closed meanwhile is seen as closed and the pair is torn down.
- ``reset``: every open connection is closed at once (a connection-tracking flush).

Control: plain HTTP on a loopback port: ``POST /blackhole``, ``POST /heal``,
``POST /reset``, ``GET /status`` (JSON: state, connections, bytes). The ready line on stdout,
``tcpproxy ready listen=HOST:PORT control=HOST:PORT``, gives the bound ports (pass :0).

Standard library only (asyncio). SIGTERM/SIGINT stop it.
"""

import argparse
import asyncio
import json
import signal
import sys
import time

CHUNK = 64 * 1024


class Proxy:
    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.healed = asyncio.Event()
        self.healed.set()
        self.conns = {}  # id -> [client writer, upstream writer or None]
        self.stats = {"accepted": 0, "bytes_up": 0, "bytes_down": 0, "blackholes": 0}
        self.state_since = time.time()

    @property
    def state(self):
        return "forwarding" if self.healed.is_set() else "blackhole"

    async def pump(self, reader, writer, key):
        try:
            while True:
                await self.healed.wait()
                data = await reader.read(CHUNK)
                if not data:
                    break
                # A partition that began while this read was pending holds these bytes
                # until the heal: the read already left the kernel, the write must not.
                await self.healed.wait()
                writer.write(data)
                self.stats[key] += len(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def on_client(self, creader, cwriter):
        self.stats["accepted"] += 1
        entry = [cwriter, None]
        self.conns[id(entry)] = entry
        try:
            await self.healed.wait()  # a partition holds new connections unconnected
            try:
                ureader, uwriter = await asyncio.open_connection(*self.target)
            except OSError:
                cwriter.close()
                return
            entry[1] = uwriter
            await asyncio.gather(self.pump(creader, uwriter, "bytes_up"),
                                 self.pump(ureader, cwriter, "bytes_down"))
        finally:
            self.conns.pop(id(entry), None)
            for w in entry:
                if w is not None:
                    try:
                        w.close()
                    except Exception:
                        pass

    def blackhole(self):
        if self.healed.is_set():
            self.stats["blackholes"] += 1
            self.state_since = time.time()
        self.healed.clear()

    def heal(self):
        if not self.healed.is_set():
            self.state_since = time.time()
        self.healed.set()

    def reset(self):
        for entry in list(self.conns.values()):
            for w in entry:
                if w is not None:
                    try:
                        w.transport.abort()
                    except Exception:
                        pass

    def status(self):
        return {"state": self.state, "since": self.state_since,
                "connections": len(self.conns), **self.stats}


async def on_control(proxy, reader, writer):
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        method, path = head.split(b"\r\n", 1)[0].decode().split()[:2]
        code, body = 200, None
        if method == "POST" and path == "/blackhole":
            proxy.blackhole()
        elif method == "POST" and path == "/heal":
            proxy.heal()
        elif method == "POST" and path == "/reset":
            proxy.reset()
        elif method == "GET" and path == "/status":
            pass
        else:
            code = 404
        body = json.dumps(proxy.status()).encode() + b"\n"
        writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n"
                     % (code, b"OK" if code == 200 else b"Not Found", len(body)) + body)
        await writer.drain()
        print(f"tcpproxy {time.time():.6f} {method} {path} -> {proxy.state}", file=sys.stderr,
              flush=True)
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, OSError):
        pass
    finally:
        writer.close()


def split_addr(s):
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--target", required=True, help="HOST:PORT to forward to")
    ap.add_argument("--control", default="127.0.0.1:0")
    args = ap.parse_args()
    proxy = Proxy(*split_addr(args.target))
    srv = await asyncio.start_server(proxy.on_client, *split_addr(args.listen))
    ctl = await asyncio.start_server(lambda r, w: on_control(proxy, r, w),
                                     *split_addr(args.control))
    lh, lp = srv.sockets[0].getsockname()[:2]
    ch, cp = ctl.sockets[0].getsockname()[:2]
    print(f"tcpproxy ready listen={lh}:{lp} control={ch}:{cp}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    srv.close()
    ctl.close()
    proxy.reset()


if __name__ == "__main__":
    asyncio.run(main())
