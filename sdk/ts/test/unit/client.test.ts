// The client end to end over a scripted WebSocket: subscriptions resume from
// their positions on every reconnection and repeats are dropped.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Switchboard } from "../../src/client.js";
import type { SwitchboardOptions } from "../../src/options.js";
import { FakeEventSource, FakeWebSocket } from "../helpers/fakes.js";

function client(opts: SwitchboardOptions = {}) {
  return new Switchboard("http://node.test/rt/", {
    WebSocket: FakeWebSocket,
    transports: ["websocket"],
    storage: null,
    minBackoff: 1,
    maxBackoff: 1,
    ...opts,
  });
}

/** Waits for the client to open its n-th socket, and lets it connect. */
async function socket(n: number, clientId = `c${n}`): Promise<FakeWebSocket> {
  await vi.waitFor(() => expect(FakeWebSocket.instances.length).toBeGreaterThanOrEqual(n));
  const ws = FakeWebSocket.instances[n - 1]!;
  ws.accept();
  const connect = ws.commands()[0]!;
  ws.push(JSON.stringify({ type: "connect", id: connect.id, client: clientId, ping_interval: 25 }));
  // The client goes on (starts the connection, subscribes) in later ticks.
  await new Promise((r) => setTimeout(r, 0));
  return ws;
}

const message = (channel: string, offset: number, epoch = "x1") =>
  JSON.stringify({ type: "message", channel, epoch, offset, data: { n: offset }, time: 1 });

describe("client", () => {
  beforeEach(() => {
    FakeWebSocket.instances = [];
  });
  let c: Switchboard | undefined;
  afterEach(() => c?.disconnect());

  it("derives the endpoints from its base URL", async () => {
    c = client();
    c.connect();
    await vi.waitFor(() => expect(FakeWebSocket.instances).toHaveLength(1));
    expect(FakeWebSocket.instances[0]!.url).toBe("ws://node.test/rt/connection/websocket");
  });

  it("resumes each subscription from its position after a reconnect, dropping repeats", async () => {
    c = client();
    const events: string[] = [];
    c.on("connecting", (e) => events.push(`connecting ${e.transport}`));
    c.on("connected", (e) => events.push(`connected ${e.transport} ${e.client}`));
    c.on("disconnected", (e) => events.push(`disconnected ${e.code} ${e.reconnect}`));
    const sub = c.subscribe("chat:lobby");
    const got: number[] = [];
    sub.on("message", (m) => got.push(m.offset));
    c.connect();

    const ws1 = await socket(1);
    expect(c.state).toBe("connected");
    expect(c.client).toBe("c1");
    const sub1 = ws1.commands()[1]!;
    expect(sub1).toEqual({ type: "subscribe", id: sub1.id, channel: "chat:lobby" });
    ws1.push(JSON.stringify({ type: "subscribe", id: sub1.id, channel: "chat:lobby", epoch: "x1", offset: 10, recovered: true }));
    ws1.push(message("chat:lobby", 11));
    ws1.push(message("chat:lobby", 12));
    ws1.drop(1006);
    // The subscription and the client say so in the same tick the
    // connection is lost: nothing carries the channel until the next one.
    expect(sub.state).toBe("subscribing");
    expect(c.state).toBe("connecting");
    expect(c.transport).toBeUndefined();

    const ws2 = await socket(2);
    const sub2 = ws2.commands()[1]!;
    expect(sub2).toEqual({ type: "subscribe", id: sub2.id, channel: "chat:lobby", since: { epoch: "x1", offset: 12 } });
    ws2.push(JSON.stringify({ type: "subscribe", id: sub2.id, channel: "chat:lobby", epoch: "x1", offset: 14, recovered: true }));
    for (const o of [12, 13, 14, 14, 15]) ws2.push(message("chat:lobby", o));
    expect(got).toEqual([11, 12, 13, 14, 15]);
    expect(events).toEqual(["connecting websocket", "connected websocket c1", "disconnected 1006 true", "connecting websocket", "connected websocket c2"]);
  });

  it("subscribes and unsubscribes on an open connection", async () => {
    c = client();
    c.connect();
    const ws = await socket(1);
    const sub = c.subscribe("chat:a");
    const cmd = ws.commands().at(-1)!;
    expect(cmd).toMatchObject({ type: "subscribe", channel: "chat:a" });
    sub.unsubscribe();
    expect(ws.commands().at(-1)).toMatchObject({ type: "unsubscribe", channel: "chat:a" });
    expect(c.getSubscription("chat:a")).toBeUndefined();
    // A message that was on its way is not delivered.
    const got: number[] = [];
    sub.on("message", (m) => got.push(m.offset));
    ws.push(message("chat:a", 1));
    expect(got).toEqual([]);
  });

  it("refuses invalid and repeated subscriptions", () => {
    c = client();
    expect(() => c!.subscribe("bad channel")).toThrow(expect.objectContaining({ code: 111 }));
    expect(() => c!.subscribe("")).toThrow(expect.objectContaining({ code: 111 }));
    c.subscribe("chat:x");
    expect(() => c!.subscribe("chat:x")).toThrow(expect.objectContaining({ code: 105 }));
  });

  it("reads history over the WebSocket", async () => {
    c = client();
    c.connect();
    const ws = await socket(1);
    const h = c.history("chat:lobby", { since: { epoch: "x1", offset: 41 }, limit: 10 });
    await vi.waitFor(() => expect(ws.commands().at(-1)?.type).toBe("history"));
    const cmd = ws.commands().at(-1)!;
    expect(ws.sent.at(-1)).toBe(`{"type":"history","id":${cmd.id},"channel":"chat:lobby","since":{"epoch":"x1","offset":41},"limit":10}`);
    ws.push(
      JSON.stringify({
        type: "history",
        id: cmd.id,
        channel: "chat:lobby",
        epoch: "x1",
        offset: 44,
        publications: [{ channel: "chat:lobby", epoch: "x1", offset: 42, data: 1, time: 1 }],
      }),
    );
    await expect(h).resolves.toMatchObject({ epoch: "x1", offset: 44, publications: [{ offset: 42 }] });
  });

  it("waits for the WebSocket to read history", async () => {
    c = client();
    c.connect();
    const h = c.history("chat:lobby", { limit: 1 });
    const ws = await socket(1);
    await vi.waitFor(() => expect(ws.commands().at(-1)?.type).toBe("history"));
    const id = ws.commands().at(-1)!.id;
    ws.push(JSON.stringify({ type: "history", id, channel: "chat:lobby", epoch: "x1", offset: 0, publications: [] }));
    await expect(h).resolves.toMatchObject({ channel: "chat:lobby", epoch: "x1", offset: 0, publications: [] });
  });

  it("falls back to SSE when the WebSocket closes before its first frame, and remembers it for the session", async () => {
    FakeEventSource.instances = [];
    const stored = new Map<string, string>();
    const storage = { getItem: (k: string) => stored.get(k) ?? null, setItem: (k: string, v: string) => void stored.set(k, v) };
    c = client({ transports: ["websocket", "sse"], EventSource: FakeEventSource, storage });
    const tried: string[] = [];
    c.on("connecting", (e) => tried.push(e.transport));
    const sub = c.subscribe("chat:lobby");
    c.connect();
    await vi.waitFor(() => expect(FakeWebSocket.instances).toHaveLength(1));
    FakeWebSocket.instances[0]!.drop(1006); // refused by a proxy, say
    await vi.waitFor(() => expect(FakeEventSource.instances).toHaveLength(1));
    FakeEventSource.instances[0]!.emit("connected", { client: "s1", channels: { "chat:lobby": { epoch: "x1", offset: 0, recovered: true } } });
    await vi.waitFor(() => expect(sub.state).toBe("subscribed"));
    expect(tried).toEqual(["websocket", "sse"]);
    expect(c.transport).toBe("sse");
    expect(c.client).toBe("s1");
    expect([...stored]).toEqual([["switchboard:transport:ws://node.test/rt/connection/websocket", "sse"]]);
    c.disconnect();

    // The next page load of the session starts where this one ended up.
    FakeEventSource.instances = [];
    const again = client({ transports: ["websocket", "sse"], EventSource: FakeEventSource, storage });
    const first: string[] = [];
    again.once("connecting", (e) => first.push(e.transport));
    again.subscribe("chat:lobby");
    again.connect();
    await vi.waitFor(() => expect(FakeEventSource.instances).toHaveLength(1));
    expect(first).toEqual(["sse"]);
    expect(FakeWebSocket.instances).toHaveLength(1);
    again.disconnect();
  });

  it("stays away when the node says not to reconnect", async () => {
    c = client();
    const ended: { code: number; reconnect: boolean }[] = [];
    c.on("disconnected", (e) => ended.push(e));
    c.connect();
    const ws = await socket(1);
    ws.push(JSON.stringify({ type: "disconnect", code: 3502, reason: "disconnected", reconnect: false }));
    ws.drop(3502, "disconnected");
    await vi.waitFor(() => expect(ended).toHaveLength(1));
    await new Promise((r) => setTimeout(r, 50));
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(c.state).toBe("disconnected");
    expect(ended[0]).toMatchObject({ code: 3502, reconnect: false });
  });

  it("keeps positions across disconnect() and connect()", async () => {
    c = client();
    const sub = c.subscribe("chat:lobby", { since: { epoch: "x1", offset: 5 } });
    c.connect();
    const ws1 = await socket(1);
    expect(ws1.commands()[1]).toMatchObject({ since: { epoch: "x1", offset: 5 } });
    const id = ws1.commands()[1]!.id;
    ws1.push(JSON.stringify({ type: "subscribe", id, channel: "chat:lobby", epoch: "x1", offset: 6, recovered: true }));
    ws1.push(message("chat:lobby", 6));
    c.disconnect();
    expect(c.state).toBe("disconnected");
    expect(sub.position).toEqual({ epoch: "x1", offset: 6 });
    c.connect();
    const ws2 = await socket(2);
    expect(ws2.commands()[1]).toMatchObject({ since: { epoch: "x1", offset: 6 } });
  });
});
