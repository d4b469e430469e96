// The SSE transport over a scripted EventSource: one stream for every
// channel, replaced without loss when the channel set changes, named
// presence and disconnect events, and a stream that fails before it
// connects reported as a transport that does not get through.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SSEConnection } from "../../src/transports/sse.js";
import { FakeEventSource, FakeFetch, RecordingHandler, fakeContext } from "../helpers/fakes.js";

const pub = (channel: string, offset: number) => ({ channel, epoch: "x1", offset, data: offset, time: 1 });
const started = (channels: Record<string, number>, recovered = true) => ({
  client: "s1",
  channels: Object.fromEntries(Object.entries(channels).map(([ch, offset]) => [ch, { epoch: "x1", offset, recovered }])),
});

describe("SSE", () => {
  let handler: RecordingHandler;
  let f: FakeFetch;
  let conn: SSEConnection;

  beforeEach(() => {
    FakeEventSource.instances = [];
    handler = new RecordingHandler();
    f = new FakeFetch();
    conn = new SSEConnection(fakeContext(handler, { EventSource: FakeEventSource, fetch: f.fetch }));
  });
  afterEach(() => conn.close());

  async function open(): Promise<FakeEventSource> {
    const opened = conn.open();
    await vi.waitFor(() => expect(FakeEventSource.instances.length).toBeGreaterThan(0));
    const es = FakeEventSource.instances.at(-1)!;
    es.emit("connected", started({ "chat:a": 5 }));
    await opened;
    conn.start();
    return es;
  }

  it("streams every channel on one EventSource from the positions held", async () => {
    handler.reqs = [{ channel: "chat:a", since: { epoch: "x1", offset: 3 } }];
    const es = await open();
    const u = new URL(es.url);
    expect(u.pathname).toBe("/connection/sse");
    expect(u.searchParams.getAll("channel")).toEqual(["chat:a"]);
    expect(u.searchParams.get("cursor")).toBeTruthy();
    expect(conn.client).toBe("s1");
    expect(handler.startedLog).toEqual([{ channel: "chat:a", start: { epoch: "x1", offset: 5, recovered: true }, since: { epoch: "x1", offset: 3 } }]);
    es.emit("message", pub("chat:a", 4));
    expect(handler.publications.map((p) => p.offset)).toEqual([4]);
  });

  it("replaces the stream when a channel is added, losing nothing and restarting only the new channel", async () => {
    handler.reqs = [{ channel: "chat:a", since: { epoch: "x1", offset: 5 } }];
    const first = await open();
    handler.reqs = [
      { channel: "chat:a", since: { epoch: "x1", offset: 6 } },
      { channel: "chat:b" },
    ];
    conn.sync();
    await vi.waitFor(() => expect(FakeEventSource.instances).toHaveLength(2));
    const second = FakeEventSource.instances[1]!;
    expect(new URL(second.url).searchParams.getAll("channel")).toEqual(["chat:a", "chat:b"]);
    // The old stream delivers until the new one is connected; what the new
    // one sends before it is activated waits.
    first.emit("message", pub("chat:a", 6));
    second.emit("connected", started({ "chat:a": 7, "chat:b": 0 }));
    await vi.waitFor(() => expect(first.closed).toBe(true));
    second.emit("message", pub("chat:a", 7));
    expect(handler.publications.map((p) => [p.channel, p.offset])).toEqual([
      ["chat:a", 6],
      ["chat:a", 7],
    ]);
    // chat:a went on from its position: no second start for it.
    expect(handler.startedLog.map((s) => s.channel)).toEqual(["chat:a", "chat:b"]);
    first.emit("message", pub("chat:a", 8));
    expect(handler.publications).toHaveLength(2);
  });

  it("passes the gap event on, never as a publication", async () => {
    handler.reqs = [{ channel: "chat:a" }];
    const es = await open();
    es.emit("gap", { type: "gap", channel: "chat:a", from: { epoch: "x1", offset: 5 }, epoch: "x2", recovered: false });
    expect(handler.gapLog).toEqual([{ channel: "chat:a", epoch: "x2", from: { epoch: "x1", offset: 5 } }]);
    expect(handler.publications).toEqual([]);
  });

  it("passes join and leave on, and ends as a disconnect event says", async () => {
    handler.reqs = [{ channel: "chat:a" }];
    const es = await open();
    es.emit("join", { channel: "chat:a", client: "c2", user: "u2" });
    es.emit("leave", { channel: "chat:a", client: "c2" });
    expect(handler.presenceLog).toEqual([
      { kind: "join", ev: { channel: "chat:a", client: "c2", user: "u2" } },
      { kind: "leave", ev: { channel: "chat:a", client: "c2" } },
    ]);
    es.emit("disconnect", { code: 3502, reason: "disconnected", reconnect: false });
    await expect(conn.closed).resolves.toMatchObject({ code: 3502, reconnect: false });
    expect(es.closed).toBe(true);
  });

  it("fails as a transport when the stream breaks before connecting and polls get through", async () => {
    handler.reqs = [{ channel: "chat:a" }];
    const opened = conn.open();
    await vi.waitFor(() => expect(FakeEventSource.instances).toHaveLength(1));
    FakeEventSource.instances[0]!.fail();
    // It asks the poll endpoint why: an answer there means the node would
    // take the channel, so SSE itself is what does not get through.
    await vi.waitFor(() => expect(f.pending).toBe(1));
    const probe = f.answer({ publications: [], cursor: "AQA", recovered: true });
    expect(probe.searchParams.get("timeout")).toBe("0");
    await expect(opened).rejects.toMatchObject({ code: 0 });
  });

  it("asks its questions as one polling client, so presence counts it once", async () => {
    const memory: { pollClient?: string } = {};
    handler.reqs = [{ channel: "chat:a" }];
    for (const want of [null, "q1"]) {
      FakeEventSource.instances = [];
      const c = new SSEConnection({ ...fakeContext(handler, { EventSource: FakeEventSource, fetch: f.fetch }), memory });
      const opened = c.open();
      await vi.waitFor(() => expect(FakeEventSource.instances).toHaveLength(1));
      FakeEventSource.instances[0]!.fail();
      await vi.waitFor(() => expect(f.pending).toBe(1));
      expect(f.answer({ publications: [], cursor: "AQA", client: "q1" }).searchParams.get("client")).toBe(want);
      await expect(opened).rejects.toMatchObject({ code: 0 });
    }
    expect(memory.pollClient).toBe("q1");
  });

  it("reports the node's refusal the poll explains, and opens idle when nothing is left", async () => {
    handler.reqs = [{ channel: "nope:a" }];
    const opened = conn.open();
    await vi.waitFor(() => expect(FakeEventSource.instances).toHaveLength(1));
    FakeEventSource.instances[0]!.fail();
    await vi.waitFor(() => expect(f.pending).toBe(1));
    f.answer({ error: { code: 102, message: "unknown channel" } }, 404);
    // Not a transport failure: the node answered, and would refuse the
    // channel on any transport.
    await expect(opened).resolves.toBeUndefined();
    expect(handler.refusedLog.map((r) => [r.channel, r.err.code])).toEqual([["nope:a", 102]]);
    conn.start();
    handler.reqs = [{ channel: "chat:b" }];
    conn.sync();
    await vi.waitFor(() => expect(FakeEventSource.instances).toHaveLength(2));
    expect(new URL(FakeEventSource.instances[1]!.url).searchParams.getAll("channel")).toEqual(["chat:b"]);
  });
  it("takes a stream with no ping for the node's interval plus the grace for dead", async () => {
    const c = new SSEConnection(fakeContext(handler, { EventSource: FakeEventSource, fetch: f.fetch, pingGrace: 100 }));
    const closed: string[] = [];
    c.onClosed((info) => closed.push(info.reason));
    handler.reqs = [{ channel: "chat:a" }];
    const opened = c.open();
    await vi.waitFor(() => expect(FakeEventSource.instances.length).toBeGreaterThan(0));
    const es = FakeEventSource.instances.at(-1)!;
    es.emit("connected", { ...started({ "chat:a": 0 }), ping_interval: 1 });
    await opened;
    c.start();
    // Pings (and publications) keep it alive well past the 1.1s of silence allowed.
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 300));
      if (i === 0) es.emit("message", pub("chat:a", 1));
      else es.emit("ping", {});
    }
    expect(closed).toEqual([]);
    expect(es.closed).toBe(false);
    // Then silence: the connection ends, to be made again from the positions held.
    await vi.waitFor(() => expect(closed).toHaveLength(1), { timeout: 3000 });
    expect(closed[0]).toMatch(/no ping/);
    expect(es.closed).toBe(true);
    c.close();
  });
});
