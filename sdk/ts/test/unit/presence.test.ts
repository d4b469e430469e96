// Presence through the client, on fakes: the presence command over a
// WebSocket, GET /connection/presence for SSE, polling or no connection, and
// join/leave pushes as subscription events on both streaming transports.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Switchboard } from "../../src/client.js";
import type { SwitchboardOptions } from "../../src/options.js";
import type { PresenceEvent } from "../../src/transports/transport.js";
import { FakeEventSource, FakeFetch, FakeWebSocket } from "../helpers/fakes.js";

const lobby = "chat:lobby";
const clients = [{ client: "c1", user: "u1", info: { name: "Ann" } }, { client: "p-7" }];

describe("presence", () => {
  let c: Switchboard | undefined;
  let f: FakeFetch;
  beforeEach(() => {
    FakeWebSocket.instances = [];
    FakeEventSource.instances = [];
    f = new FakeFetch();
  });
  afterEach(() => c?.disconnect());

  function client(opts: SwitchboardOptions) {
    c = new Switchboard("http://node.test/rt", {
      WebSocket: FakeWebSocket,
      EventSource: FakeEventSource,
      fetch: f.fetch,
      storage: null,
      minBackoff: 1,
      maxBackoff: 1,
      ...opts,
    });
    return c;
  }

  async function websocket(): Promise<FakeWebSocket> {
    await vi.waitFor(() => expect(FakeWebSocket.instances.length).toBe(1));
    const ws = FakeWebSocket.instances[0]!;
    ws.accept();
    ws.push(JSON.stringify({ type: "connect", id: ws.commands()[0]!.id, client: "c1", ping_interval: 25 }));
    await vi.waitFor(() => expect(c!.state).toBe("connected"));
    return ws;
  }

  it("asks over the WebSocket, and hears joins and leaves as subscription events", async () => {
    const sb = client({ transports: ["websocket"] });
    const sub = sb.subscribe(lobby);
    const seen: string[] = [];
    sub.on("join", (e: PresenceEvent) => seen.push(`join ${e.client} ${e.user ?? "-"}`));
    sub.on("leave", (e: PresenceEvent) => seen.push(`leave ${e.client} ${e.user ?? "-"}`));
    sb.connect();
    await f.answerPosition(lobby, "x1", 0);
    const ws = await websocket();

    const p = sb.presence(lobby);
    await vi.waitFor(() => expect(ws.commands().at(-1)?.type).toBe("presence"));
    const cmd = ws.commands().at(-1)!;
    expect(ws.sent.at(-1)).toBe(`{"type":"presence","id":${cmd.id},"channel":"chat:lobby"}`);
    ws.push(JSON.stringify({ type: "presence", id: cmd.id, channel: lobby, clients }));
    await expect(p).resolves.toEqual(clients);
    expect(f.requests).toHaveLength(1); // the position read, before connecting

    ws.push(JSON.stringify({ type: "join", channel: lobby, client: "c2", user: "u2", info: { name: "Bo" } }));
    ws.push(JSON.stringify({ type: "leave", channel: lobby, client: "c3" }));
    ws.push(JSON.stringify({ type: "join", channel: "chat:other", client: "c4" }));
    expect(seen).toEqual(["join c2 u2", "leave c3 -"]);
  });

  it("reports a refusal of the presence command as a coded error", async () => {
    const sb = client({ transports: ["websocket"] });
    sb.connect();
    const ws = await websocket();
    const p = sb.presence("chat:quiet");
    await vi.waitFor(() => expect(ws.commands().at(-1)?.type).toBe("presence"));
    ws.push(JSON.stringify({ type: "presence", id: ws.commands().at(-1)!.id, error: { code: 108, message: "presence is off for chat" } }));
    await expect(p).rejects.toMatchObject({ code: 108 });
  });

  it("asks over HTTP on SSE, and hears joins and leaves as named events", async () => {
    const sb = client({ transports: ["sse"], token: "t0" });
    const sub = sb.subscribe(lobby);
    const seen: string[] = [];
    const got: number[] = [];
    sub.on("join", (e) => seen.push(`join ${e.client}`));
    sub.on("leave", (e) => seen.push(`leave ${e.client}`));
    sub.on("message", (m) => got.push(m.offset));
    sb.connect();
    await f.answerPosition(lobby, "x1", 3);
    await vi.waitFor(() => expect(FakeEventSource.instances.length).toBe(1));
    const es = FakeEventSource.instances[0]!;
    es.emit("connected", { client: "s1", channels: { [lobby]: { epoch: "x1", offset: 3, recovered: true } } });
    await vi.waitFor(() => expect(sub.state).toBe("subscribed"));

    es.emit("join", { channel: lobby, client: "c9", user: "u9" });
    es.emit("message", { channel: lobby, epoch: "x1", offset: 4, data: "hi", time: 1 });
    es.emit("leave", { channel: lobby, client: "c9", user: "u9" });
    expect(seen).toEqual(["join c9", "leave c9"]);
    expect(got).toEqual([4]);

    const p = sb.presence(lobby);
    await vi.waitFor(() => expect(f.pending).toBe(1));
    const url = f.answer({ channel: lobby, clients });
    expect(url.origin + url.pathname).toBe("http://node.test/rt/connection/presence");
    expect(url.searchParams.get("channel")).toBe(lobby);
    expect(url.searchParams.get("token")).toBe("t0");
    await expect(p).resolves.toEqual(clients);
  });

  it("asks over HTTP with no connection, and renews an expired token once", async () => {
    let n = 0;
    const sb = client({ endpoints: { presence: "/custom/presence" }, getToken: () => `t${++n}` });
    const p = sb.presence(lobby);
    await vi.waitFor(() => expect(f.pending).toBe(1));
    // The first token comes from getToken, as when connecting.
    const first = f.answer({ error: { code: 109, message: "token expired" } }, 401);
    expect(first.pathname).toBe("/custom/presence");
    expect(first.searchParams.get("token")).toBe("t1");
    await vi.waitFor(() => expect(f.pending).toBe(1));
    expect(f.answer({ channel: lobby, clients: [{ client: "p-1", user: "" }] }).searchParams.get("token")).toBe("t2");
    // An empty user is an anonymous client: left out, as the node does.
    await expect(p).resolves.toEqual([{ client: "p-1" }]);
  });

  it("refuses an invalid channel name before asking", async () => {
    const sb = client({});
    await expect(sb.presence("no spaces")).rejects.toMatchObject({ code: 111 });
    expect(f.requests).toHaveLength(0);
  });
});
