// Polling over a scripted fetch: the node's id for the client goes back on
// every later poll, across connections, so presence counts one client.

import { afterEach, describe, expect, it, vi } from "vitest";
import { PollConnection } from "../../src/transports/poll.js";
import { FakeFetch, RecordingHandler, fakeContext } from "../helpers/fakes.js";

const reply = (over: Record<string, unknown> = {}) => ({ publications: [], cursor: "AQA", recovered: true, gaps: [], ...over });
const pub = (offset: number) => ({ channel: "chat:lobby", epoch: "x1", offset, data: offset, time: 1 });

describe("polling", () => {
  const conns: PollConnection[] = [];
  afterEach(() => {
    for (const c of conns.splice(0)) c.close();
  });

  function setup(memory: { pollClient?: string } = {}) {
    const f = new FakeFetch();
    const handler = new RecordingHandler();
    handler.reqs = [{ channel: "chat:lobby", since: { epoch: "x1", offset: 4 } }];
    const ctx = { ...fakeContext(handler, { fetch: f.fetch }), memory };
    const conn = new PollConnection(ctx, "longpoll");
    conns.push(conn);
    return { f, handler, conn, memory };
  }

  it("sends back the client id the node gave on every later poll", async () => {
    const { f, handler, conn, memory } = setup();
    const opened = conn.open();
    await vi.waitFor(() => expect(f.pending).toBe(1));
    const first = f.answer(reply({ client: "p-1_a", publications: [pub(5)] }));
    expect(first.searchParams.get("client")).toBeNull();
    expect(first.searchParams.get("timeout")).toBe("0ms");
    await opened;
    expect(conn.client).toBe("p-1_a");
    expect(memory.pollClient).toBe("p-1_a");
    conn.start();
    expect(handler.publications.map((p) => p.offset)).toEqual([5]);
    await vi.waitFor(() => expect(f.pending).toBe(1));
    const second = f.answer(reply({ client: "p-1_a" }));
    expect(second.searchParams.get("client")).toBe("p-1_a");
    expect(second.searchParams.get("timeout")).toBe("25000ms");
    expect(second.searchParams.getAll("channel")).toEqual(["chat:lobby"]);
  });

  it("keeps the id across connections of the same client", async () => {
    const memory = { pollClient: "kept" };
    const { f, conn } = setup(memory);
    expect(conn.client).toBe("kept");
    const opened = conn.open();
    await vi.waitFor(() => expect(f.pending).toBe(1));
    expect(f.answer(reply({ client: "kept" })).searchParams.get("client")).toBe("kept");
    await opened;
  });

  it("never sends back an id the node would refuse", async () => {
    const { f, conn, memory } = setup();
    const opened = conn.open();
    await vi.waitFor(() => expect(f.pending).toBe(1));
    f.answer(reply({ client: "no spaces allowed" }));
    await opened;
    expect(memory.pollClient).toBeUndefined();
    conn.start();
    await vi.waitFor(() => expect(f.pending).toBe(1));
    expect(f.answer(reply({ client: "x".repeat(65) })).searchParams.get("client")).toBeNull();
    await vi.waitFor(() => expect(f.pending).toBe(1));
    expect(f.answer(reply()).searchParams.get("client")).toBeNull();
  });

  it("reports a gap the reply lists", async () => {
    const { f, handler, conn } = setup();
    const opened = conn.open();
    await vi.waitFor(() => expect(f.pending).toBe(1));
    f.answer(reply({ gaps: ["chat:lobby"], recovered: false, publications: [pub(20)] }));
    await opened;
    conn.start();
    expect(handler.startedLog).toEqual([{ channel: "chat:lobby", start: { epoch: "x1", offset: 19, recovered: false }, since: { epoch: "x1", offset: 4 } }]);
  });
});

describe("a poll whose every channel is refused", () => {
  it("opens idle: the node answered, and would refuse the channel on any transport", async () => {
    const f = new FakeFetch();
    const handler = new RecordingHandler();
    handler.reqs = [{ channel: "nope:a" }];
    const conn = new PollConnection(fakeContext(handler, { fetch: f.fetch }), "longpoll");
    const opened = conn.open();
    await vi.waitFor(() => expect(f.pending).toBe(1));
    f.answer({ error: { code: 102, message: "unknown channel" } }, 404);
    await expect(opened).resolves.toBeUndefined();
    expect(handler.refusedLog.map((r) => [r.channel, r.err.code])).toEqual([["nope:a", 102]]);
    conn.start();
    handler.reqs = [{ channel: "chat:b" }];
    conn.sync();
    await vi.waitFor(() => expect(f.pending).toBe(1));
    expect(f.answer({ publications: [], cursor: "AQA" }).searchParams.getAll("channel")).toEqual(["chat:b"]);
    conn.close();
  });
});

describe("a connection with no channel yet", () => {
  it("opens once the node answers, even with a refusal", async () => {
    const f = new FakeFetch();
    const conn = new PollConnection(fakeContext(new RecordingHandler(), { fetch: f.fetch }), "longpoll");
    const opened = conn.open();
    await vi.waitFor(() => expect(f.pending).toBe(1));
    const url = f.answer({ error: { code: 107, message: "at least one channel parameter is required" } }, 400);
    expect(url.pathname).toBe("/connection/poll");
    await expect(opened).resolves.toBeUndefined();
    conn.close();
  });

  it("does not open when nothing answers: the node may be down", async () => {
    const f = new FakeFetch();
    const conn = new PollConnection(fakeContext(new RecordingHandler(), { fetch: f.fetch }), "poll");
    const opened = conn.open();
    await vi.waitFor(() => expect(f.pending).toBe(1));
    f.answer("<html>bad gateway</html>", 502);
    await expect(opened).rejects.toMatchObject({ code: 0 });
    conn.close();
  });
});

describe("long polling a channel added on the way", () => {
  it("starts it with a short poll, then holds", async () => {
    const f = new FakeFetch();
    const handler = new RecordingHandler();
    handler.reqs = [{ channel: "chat:a" }];
    const conn = new PollConnection(fakeContext(handler, { fetch: f.fetch }), "longpoll");
    const opened = conn.open();
    await vi.waitFor(() => expect(f.pending).toBe(1));
    f.answer({ publications: [{ ...pub(1), channel: "chat:a" }], cursor: "AQA" });
    await opened;
    conn.start();
    await vi.waitFor(() => expect(f.pending).toBe(1));
    expect(f.requests.at(-1)!.url.searchParams.get("timeout")).toBe("25000ms");
    handler.reqs = [{ channel: "chat:a", since: { epoch: "x1", offset: 1 } }, { channel: "chat:b" }];
    conn.sync();
    // The held poll is given up for one with chat:b, which is short.
    await vi.waitFor(() => expect(f.requests).toHaveLength(3));
    await vi.waitFor(() => expect(f.pending).toBe(1));
    expect(f.requests[2]!.url.searchParams.get("timeout")).toBe("0ms");
    f.answer({ publications: [{ ...pub(7), channel: "chat:b" }], cursor: "AQA" });
    await vi.waitFor(() =>
      expect(handler.startedLog.map((s) => [s.channel, s.start.offset])).toEqual([
        ["chat:a", 0],
        ["chat:b", 6],
      ]),
    );
    await vi.waitFor(() => expect(f.pending).toBe(1));
    expect(f.requests.at(-1)!.url.searchParams.get("timeout")).toBe("25000ms");
    conn.close();
  });
});
