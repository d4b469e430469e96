// History through the client, on fakes: the history command over a
// WebSocket, GET /connection/history for SSE, polling or no connection.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Switchboard } from "../../src/client.js";
import type { SwitchboardOptions } from "../../src/options.js";
import { FakeEventSource, FakeFetch, FakeWebSocket } from "../helpers/fakes.js";

const lobby = "chat:lobby";
const pub = (offset: number) => ({ channel: lobby, epoch: "x1", offset, data: { n: offset }, time: 1 });
const page = { channel: lobby, epoch: "x1", offset: 44, publications: [pub(43), pub(44)] };

describe("history", () => {
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

  it("asks over the WebSocket when on one", async () => {
    const sb = client({ transports: ["websocket"] });
    sb.connect();
    await vi.waitFor(() => expect(FakeWebSocket.instances.length).toBe(1));
    const ws = FakeWebSocket.instances[0]!;
    ws.accept();
    ws.push(JSON.stringify({ type: "connect", id: ws.commands()[0]!.id, client: "c1", ping_interval: 25 }));
    await vi.waitFor(() => expect(sb.state).toBe("connected"));

    const h = sb.history(lobby, { reverse: true, limit: 2 });
    await vi.waitFor(() => expect(ws.commands().at(-1)?.type).toBe("history"));
    const cmd = ws.commands().at(-1)!;
    expect(cmd).toEqual({ type: "history", id: cmd.id, channel: lobby, reverse: true, limit: 2 });
    ws.push(JSON.stringify({ type: "history", id: cmd.id, ...page }));
    await expect(h).resolves.toEqual(page);
    expect(f.requests).toHaveLength(0);

    const refused = sb.history("chat:closed");
    await vi.waitFor(() => expect(ws.commands().at(-1)?.channel).toBe("chat:closed"));
    ws.push(JSON.stringify({ type: "history", id: ws.commands().at(-1)!.id, error: { code: 103, message: "permission denied" } }));
    await expect(refused).rejects.toMatchObject({ code: 103 });
  });

  it("asks over HTTP on SSE, with the parameters of the node's history endpoints", async () => {
    const sb = client({ transports: ["sse"], token: "t0" });
    sb.subscribe(lobby);
    sb.connect();
    await f.answerPosition(lobby, "x1", 44);
    await vi.waitFor(() => expect(FakeEventSource.instances.length).toBe(1));
    FakeEventSource.instances[0]!.emit("connected", { client: "s1", channels: { [lobby]: { epoch: "x1", offset: 44, recovered: true } } });
    await sb.ready();

    const h = sb.history(lobby, { since: { epoch: "x1", offset: 42 }, limit: 10, reverse: true });
    await vi.waitFor(() => expect(f.pending).toBe(1));
    const url = f.answer(page);
    expect(url.origin + url.pathname).toBe("http://node.test/rt/connection/history");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      channel: lobby,
      since_epoch: "x1",
      since_offset: "42",
      limit: "10",
      reverse: "true",
      token: "t0",
    });
    await expect(h).resolves.toEqual(page);

    // Defaults are left to the node: no limit, no reverse, no position.
    const all = sb.history(lobby);
    await vi.waitFor(() => expect(f.pending).toBe(1));
    expect(Object.fromEntries(f.answer({ channel: lobby, epoch: "x1", offset: 0, publications: [] }).searchParams)).toEqual({ channel: lobby, token: "t0" });
    await expect(all).resolves.toEqual({ channel: lobby, epoch: "x1", offset: 0, publications: [] });

    const refused = sb.history("vault:a");
    await vi.waitFor(() => expect(f.pending).toBe(1));
    f.answer({ error: { code: 103, message: "permission denied" } }, 403);
    await expect(refused).rejects.toMatchObject({ code: 103, status: 403 });
  });

  it("asks over HTTP with no connection, and renews an expired token once", async () => {
    let n = 0;
    const sb = client({ endpoints: { history: "/custom/history" }, getToken: () => `t${++n}` });
    const h = sb.history(lobby);
    await vi.waitFor(() => expect(f.pending).toBe(1));
    const first = f.answer({ error: { code: 109, message: "token expired" } }, 401);
    expect(first.pathname).toBe("/custom/history");
    expect(first.searchParams.get("token")).toBe("t1");
    await vi.waitFor(() => expect(f.pending).toBe(1));
    expect(f.answer(page).searchParams.get("token")).toBe("t2");
    await expect(h).resolves.toEqual(page);
  });

  it("refuses an invalid channel name before asking", async () => {
    const sb = client({});
    await expect(sb.history("no spaces")).rejects.toMatchObject({ code: 111 });
    expect(f.requests).toHaveLength(0);
  });
});
