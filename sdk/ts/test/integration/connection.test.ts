// The connection as a whole, against a real node: falling back from a
// WebSocket that fails, moving between transports with the positions kept,
// cursors identical to the node's, a dead WebSocket noticed by its missing
// pings, and tokens renewed when they expire.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Cursor } from "../../src/cursor.js";
import type { TransportName } from "../../src/options.js";
import type { Position } from "../../src/protocol.js";
import { channel, closeClients, collect, newClient, next, offsets, waitFor } from "../helpers/client.js";
import { type Node, binary, mintToken, skipReason, startNode } from "../helpers/node.js";
import { Proxy } from "../helpers/proxy.js";

describe.skipIf(!binary)(`the connection against a node${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let node: Node;

  beforeAll(async () => {
    // A short ping interval, so a dead connection shows within seconds.
    node = await startNode(["--ping-interval", "1s"]);
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    await node?.stop();
  });

  it("falls back to SSE when the WebSocket endpoint fails, and remembers it", async () => {
    const ch = channel("lab", "fallback");
    const storage = new Map<string, string>();
    const c = newClient(node.url, {
      endpoints: { websocket: "/connection/nowhere" },
      storage: { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => void storage.set(k, v) },
    });
    const tried: string[] = [];
    c.on("connecting", (e) => tried.push(e.transport));
    const sub = c.subscribe(ch);
    const got = collect(sub);
    c.connect();
    await next(sub, "subscribed");
    expect(tried).toEqual(["websocket", "sse"]);
    expect(c.transport).toBe("sse");
    expect([...storage.values()]).toEqual(["sse"]);
    await node.publish(ch, "via sse");
    await waitFor(() => got.length === 1, () => "a publication");
    expect(got[0]!.data).toBe("via sse");
  });

  it("moves between every transport with its position: no gap, no duplicate", async () => {
    const ch = channel("lab", "moves");
    const order: TransportName[] = ["websocket", "sse", "longpoll", "poll", "websocket"];
    let since: Position | undefined;
    const all: number[] = [];
    let n = 0;
    for (const transport of order) {
      const c = newClient(node.url, { transports: [transport] });
      const sub = c.subscribe(ch, since ? { since } : {});
      const got = collect(sub);
      c.connect();
      const started = await next(sub, "subscribed");
      expect(started.recovered).toBe(true);
      // Published while the previous client was gone, then while this one listens.
      for (let i = 0; i < 3; i++) await node.publish(ch, ++n);
      await waitFor(() => sub.position?.offset === n, () => `offset ${n} over ${transport}, got ${offsets(got)}`);
      all.push(...offsets(got));
      since = sub.position;
      c.disconnect();
      // The next client starts from here; publish one while nobody listens.
      await node.publish(ch, ++n);
    }
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    expect(all.length).toBe(n - 1);
  });

  it("builds the same cursor as the node", async () => {
    const a = channel("lab", "cursor-a");
    const b = channel("dashboard", "cursor-b");
    await node.publish(a, 1);
    await node.publish(a, 2);
    const pb = await node.publish(b, 1);
    // A short poll without a cursor starts every channel at its latest position.
    const res = await fetch(`${node.url}/connection/poll?channel=${a}&channel=${b}&timeout=0`);
    const reply = (await res.json()) as { cursor: string };
    const fromNode = Cursor.parse(reply.cursor);
    expect(fromNode.get(b)).toEqual({ epoch: pb.epoch, offset: 1 });
    expect(fromNode.get(a)?.offset).toBe(2);
    const ours = Cursor.from([
      [a, fromNode.get(a)!],
      [b, fromNode.get(b)!],
    ]);
    expect(ours.toString()).toBe(reply.cursor);
    // And the node reads ours: resuming a after offset 1 replays offset 2.
    ours.set(a, { epoch: fromNode.get(a)!.epoch, offset: 1 });
    const again = await fetch(`${node.url}/connection/poll?channel=${a}&channel=${b}&timeout=0&cursor=${ours.toString()}`);
    const body = (await again.json()) as { publications: { channel: string; offset: number }[]; recovered: boolean };
    expect(body.recovered).toBe(true);
    expect(body.publications.map((p) => [p.channel, p.offset])).toEqual([[a, 2]]);
  });

  it("takes a WebSocket that carries nothing for dead, and resumes", async () => {
    const proxy = await Proxy.start(node.url);
    try {
      const ch = channel("lab", "dead");
      const c = newClient(proxy.url, { transports: ["websocket"], pingGrace: 500 });
      const sub = c.subscribe(ch);
      const got = collect(sub);
      const closes: number[] = [];
      c.on("disconnected", (e) => closes.push(e.code));
      c.connect();
      await next(sub, "subscribed");
      await node.publish(ch, 1);
      await waitFor(() => got.length === 1, () => "the first publication");
      // The connection stays open but nothing gets through: no ping, no close.
      proxy.freeze();
      await node.publish(ch, 2);
      await waitFor(() => closes.length > 0, () => "the client to notice the dead connection", 5_000);
      proxy.cut();
      proxy.thaw();
      await waitFor(() => got.length === 2, () => `the publication sent while frozen, got ${offsets(got)}`);
      expect(offsets(got)).toEqual([1, 2]);
    } finally {
      proxy.close();
    }
  });

  describe.each(["websocket", "sse", "longpoll"] as TransportName[])("tokens over %s", (transport) => {
    it("renews an expired token and resumes", async () => {
      const ch = channel("lab", `token-${transport}`);
      let minted = 0;
      const c = newClient(node.url, {
        transports: [transport],
        // The first token lasts two seconds; the next ones an hour.
        getToken: () => mintToken("alice", ++minted === 1 ? 2_000 : 3_600_000),
      });
      const sub = c.subscribe(ch);
      const got = collect(sub);
      c.connect();
      await next(sub, "subscribed");
      expect(minted).toBe(1);
      await node.publish(ch, 1);
      await waitFor(() => minted >= 2, () => "a second token", 8_000);
      await node.publish(ch, 2);
      await waitFor(() => got.length === 2, () => `2 publications, got ${offsets(got)}`);
      expect(offsets(got)).toEqual([1, 2]);
      expect(c.state).toBe("connected");
    });
  });

  it("renews a token before it expires without dropping the WebSocket", async () => {
    const ch = channel("lab", "token-early");
    let minted = 0;
    const c = newClient(node.url, {
      transports: ["websocket"],
      // exp has whole seconds, so 6 s leaves 5–6 s, and the SDK renews a
      // fifth of that before expiry: about a second of margin for a busy
      // machine to carry the refresh command.
      getToken: () => mintToken("alice", ++minted === 1 ? 6_000 : 3_600_000),
    });
    const drops: number[] = [];
    c.on("disconnected", (e) => drops.push(e.code));
    const sub = c.subscribe(ch);
    const got = collect(sub);
    c.connect();
    await next(sub, "subscribed");
    await waitFor(() => minted >= 2, () => "a second token", 10_000);
    // Past the first token's expiry: the node would have ended the session.
    await new Promise((r) => setTimeout(r, 2_500));
    await node.publish(ch, 1);
    await waitFor(() => got.length === 1, () => "a publication on the same connection");
    expect(drops).toEqual([]);
    expect(c.state).toBe("connected");
  });

  it("stops for good when the node refuses the token", async () => {
    const c = newClient(node.url, { transports: ["websocket"], token: "not-a-jwt" });
    const ended = new Promise<{ code: number; reconnect: boolean }>((resolve) => c.on("disconnected", resolve));
    c.connect();
    const e = await ended;
    expect(e).toMatchObject({ code: 101, reconnect: false });
    expect(c.state).toBe("disconnected");
    await expect(c.ready()).rejects.toMatchObject({ code: 101 });
  });
});
