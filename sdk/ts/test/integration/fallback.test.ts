// The headline, end to end: while a publisher keeps publishing, the
// network under one client cuts every connection, then blocks WebSockets,
// then SSE too, then lets everything through again. The client falls back
// from WebSocket to SSE to long polling, upgrades back to WebSocket, and
// delivers every publication once, in order, without a gap.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { TransportName } from "../../src/options.js";
import { channel, closeClients, collect, newClient, next, offsets, waitFor } from "../helpers/client.js";
import { type Node, binary, skipReason, startNode } from "../helpers/node.js";
import { Proxy } from "../helpers/proxy.js";

describe.skipIf(!binary)(`fallback under a hostile network${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let node: Node;
  let proxy: Proxy;

  beforeAll(async () => {
    node = await startNode();
    proxy = await Proxy.start(node.url);
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    proxy?.close();
    await node?.stop();
  });

  it("falls back, upgrades, and delivers every publication once and in order", { timeout: 60_000 }, async () => {
    const ch = channel("lab", "fallback");
    const c = newClient(proxy.url, { openTimeout: 1_000, upgradeInterval: 500, longPollTimeout: 2_000 });
    const seen: TransportName[] = [];
    c.on("connected", (e) => seen.push(e.transport));
    const sub = c.subscribe(ch);
    const got = collect(sub);
    const gaps: unknown[] = [];
    sub.on("gap", (g) => gaps.push(g));
    c.connect();
    await next(sub, "subscribed");
    expect(c.transport).toBe("websocket");

    // The publisher goes on, from the application's backend, whatever
    // happens to the client's network.
    let published = 0;
    let stop = false;
    const publisher = (async () => {
      while (!stop) {
        await node.publish(ch, ++published);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const atLeast = (n: number) => waitFor(() => got.length >= n, () => `${n} delivered, got ${got.length}`, 15_000);
    const on = (t: TransportName) => waitFor(() => c.transport === t, () => `the client on ${t}, it is on ${c.transport}, seen ${seen}`, 15_000);

    try {
      await atLeast(20);
      proxy.cut(); // a network blip: back on the same transport
      await atLeast(got.length + 20);
      proxy.blocked = ["/connection/websocket"];
      proxy.cut();
      await on("sse");
      await atLeast(got.length + 20);
      proxy.blocked = ["/connection/websocket", "/connection/sse"];
      proxy.cut();
      await on("longpoll");
      await atLeast(got.length + 20);
      proxy.blocked = [];
      await on("websocket"); // the upgrade, without a cut
      await atLeast(got.length + 20);
    } finally {
      stop = true;
      await publisher;
    }
    await waitFor(() => got.length >= published, () => `all ${published} delivered, got ${got.length}`, 15_000);
    expect(offsets(got)).toEqual(Array.from({ length: published }, (_, i) => i + 1));
    expect(got.map((p) => p.data)).toEqual(offsets(got));
    expect(gaps).toEqual([]);
    expect(seen[0]).toBe("websocket");
    expect(seen).toContain("sse");
    expect(seen).toContain("longpoll");
    expect(seen.at(-1)).toBe("websocket");
  });
});
