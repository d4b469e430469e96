// A TCP proxy in front of a node, so a test can cut every connection (as a
// network drop or a node restart would), refuse new ones, or freeze the
// existing ones (a connection that is open but carries nothing, as after a
// laptop sleeps).

import { connect, createServer } from "node:net";

export class Proxy {
  /** New connections are closed at once while true. */
  refuse = false;
  /** Where new connections go: change it to move clients to another node. */
  target = "";
  /**
   * Request paths refused as a firewall would: a new connection whose first
   * bytes ask for one of them is closed (e.g. "/connection/websocket" to
   * block WebSockets and leave the rest).
   */
  blocked: string[] = [];
  private frozen = false;
  private sockets = new Set<{ destroy(): void }>();
  private server: { close(): void; address(): { port: number }; listen(port: number, host: string, cb: () => void): void } | undefined;
  url = "";

  static async start(target: string): Promise<Proxy> {
    const p = new Proxy();
    p.target = target;
    p.server = createServer((client: any) => {
      if (p.refuse) {
        client.destroy();
        return;
      }
      const t = new URL(p.target);
      const upstream = connect(Number(t.port), t.hostname);
      // Every request line the client sends is looked at, since HTTP
      // keep-alive may carry an SSE request on a connection a poll opened.
      // (What a client sends on a WebSocket is masked: never a request line.)
      client.on("data", (d: unknown) => {
        for (const m of String(d).matchAll(/^(?:GET|POST|OPTIONS) (\S+) HTTP\/1\.1\r$/gm)) {
          if (p.blocked.some((b) => m[1]!.startsWith(b))) {
            client.destroy();
            upstream.destroy();
            return;
          }
        }
      });
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ]) {
        p.sockets.add(from);
        from.on("data", (d: unknown) => {
          if (!p.frozen && !to.destroyed) to.write(d);
        });
        from.on("close", () => {
          p.sockets.delete(from);
          to.destroy();
        });
        from.on("error", () => to.destroy());
      }
    });
    const server = p.server!;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    p.url = `http://127.0.0.1:${server.address().port}`;
    return p;
  }

  /** Drops every open connection. */
  cut(): void {
    for (const s of [...this.sockets]) s.destroy();
    this.sockets.clear();
  }

  /** Stops carrying bytes on every connection, without closing any. */
  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
  }

  close(): void {
    this.cut();
    this.server?.close();
  }
}
