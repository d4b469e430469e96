// The node's golden frames (protocol/testdata/frames) are the protocol: the
// SDK must write the client frames byte for byte and read every server frame.

import { readFileSync, readdirSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SwitchboardError } from "../../src/errors.js";
import {
  type Command,
  encodeCommand,
  parseDisconnect,
  parseFrame,
  parsePublication,
  publicationOf,
  wireErrorOf,
} from "../../src/protocol.js";
import { WebSocketConnection } from "../../src/transports/ws.js";
import { FakeWebSocket, RecordingHandler, fakeContext } from "../helpers/fakes.js";

const dir = new URL("../../../../protocol/testdata/frames/", import.meta.url);
const names: string[] = readdirSync(dir).filter((n: string) => n.endsWith(".json"));
const frame = (name: string): string => readFileSync(new URL(name, dir), "utf8");

describe("golden frames", () => {
  it("are all there", () => {
    expect(names.filter((n) => n.startsWith("c_")).length).toBeGreaterThanOrEqual(12);
    expect(names.filter((n) => n.startsWith("s_")).length).toBeGreaterThanOrEqual(20);
  });

  for (const name of names.filter((n) => n.startsWith("c_"))) {
    it(`writes ${name} byte for byte`, () => {
      const text = frame(name);
      expect(encodeCommand(JSON.parse(text) as Command)).toBe(text);
    });
  }

  it("writes commands built field by field in the node's order", () => {
    const cmd: Command = { limit: 10, since: { offset: 41, epoch: "x1" }, channel: "chat:lobby", id: 6, type: "history" };
    expect(encodeCommand(cmd)).toBe(frame("c_history.json"));
    expect(encodeCommand({ key: "k-123", data: { text: "yo" }, channel: "chat:lobby", id: 3, type: "publish" })).toBe(frame("c_publish_key.json"));
    expect(encodeCommand({ type: "pong" })).toBe(frame("c_pong.json"));
  });

  it("never writes a publish without data", () => {
    // cbad_publish_no_data.json: the node would refuse it with 107.
    expect(() => encodeCommand({ type: "publish", id: 3, channel: "chat:lobby" })).toThrow(TypeError);
  });

  for (const name of names.filter((n) => n.startsWith("s_") && n !== "s_error_body.json" && n !== "s_publication.json")) {
    it(`reads ${name}`, () => {
      const f = parseFrame(frame(name));
      expect(typeof f.type).toBe("string");
    });
  }

  it("reads publications the same from a message, SSE, polls and history", () => {
    const fromMessage = publicationOf(parseFrame(frame("s_message.json")));
    const bare = parsePublication(JSON.parse(frame("s_publication.json")));
    expect(fromMessage).toEqual(bare);
    expect(bare).toEqual({ channel: "chat:lobby", epoch: "x1", offset: 42, data: { text: "hi" }, time: 1763884800123 });
    const history = parseFrame(frame("s_history.json"));
    expect(history.publications?.map((p) => parsePublication(p).offset)).toEqual([43, 44]);
  });

  it("reads escaped strings and client info", () => {
    const p = publicationOf(parseFrame(frame("s_message_escaped.json")));
    expect(p.data).toEqual({ text: 'héllo "w" 😀' });
    expect(p.key).toBe('q" b\\ n\n t\t c\u0001 é ✓ \u2028 😀');
    const withInfo = publicationOf(parseFrame(frame("s_message_info.json")));
    expect(withInfo.key).toBe("k-123");
    expect(withInfo.info).toEqual({ client: "c8f1...", user: "alice", info: { name: "Alice" } });
  });

  it("reads error bodies and disconnects", () => {
    expect(wireErrorOf(JSON.parse(frame("s_error_body.json")))).toEqual({ code: 103, message: "permission denied" });
    expect(wireErrorOf(parseFrame(frame("s_subscribe_error.json")))).toEqual({ code: 103, message: "permission denied" });
    expect(parseDisconnect(parseFrame(frame("s_disconnect.json")))).toEqual({ code: 3001, reason: "shutdown", reconnect: true });
    expect(parseDisconnect(parseFrame(frame("s_disconnect_invalid_token.json")))).toEqual({ code: 3500, reason: "invalid token", reconnect: false });
    // A code without the flag follows the rule: 3000–3499 reconnect, 3500–3999 do not.
    expect(parseDisconnect({ code: 3002 }).reconnect).toBe(true);
    expect(parseDisconnect({ code: 3502 }).reconnect).toBe(false);
  });
});

// The same frames, through the WebSocket transport: the frames the node
// sends in a session, in the order it sends them.
describe("golden frames through the WebSocket transport", () => {
  let handler: RecordingHandler;
  let conn: WebSocketConnection;
  let ws: FakeWebSocket;

  beforeEach(async () => {
    vi.useFakeTimers();
    FakeWebSocket.instances = [];
    handler = new RecordingHandler();
    handler.reqs = [{ channel: "chat:lobby", since: { epoch: "x1", offset: 41 } }];
    conn = new WebSocketConnection(fakeContext(handler));
    const opened = conn.open();
    ws = FakeWebSocket.instances[0]!;
    ws.accept();
    expect(ws.sent).toEqual([frame("c_connect.json")]);
    ws.push(frame("s_connect.json"));
    await opened;
    expect(conn.client).toBe("c8f1...");
    conn.start();
  });

  afterEach(() => {
    conn.close();
    vi.useRealTimers();
  });

  it("subscribes from the position and reads the reply, replay and live messages", () => {
    expect(ws.sent[1]).toBe(frame("c_subscribe_since.json"));
    ws.push(frame("s_subscribe.json"));
    expect(handler.startedLog).toEqual([{ channel: "chat:lobby", start: { epoch: "x1", offset: 44, recovered: true }, since: { epoch: "x1", offset: 41 } }]);
    ws.push(frame("s_message.json"));
    ws.push(frame("s_message_info.json"));
    ws.push(frame("s_message_escaped.json"));
    expect(handler.publications.map((p) => p.offset)).toEqual([42, 45, 46]);
  });

  it("reports a subscription that could not be recovered", () => {
    ws.push(frame("s_subscribe_not_recovered.json"));
    expect(handler.startedLog[0]!.start).toEqual({ epoch: "x2", offset: 3, recovered: false });
  });

  it("reports a refused subscription", () => {
    // s_subscribe_error.json answers id 4; make the channel's subscribe id 4.
    conn.close();
    FakeWebSocket.instances = [];
    handler = new RecordingHandler();
    conn = new WebSocketConnection(fakeContext(handler));
    void conn.open();
    ws = FakeWebSocket.instances[0]!;
    ws.accept();
    ws.push(frame("s_connect.json"));
    return Promise.resolve().then(() => {
      handler.reqs = [{ channel: "a:1" }, { channel: "a:2" }, { channel: "admin:x" }];
      conn.start();
      expect(ws.sent[3]).toBe(frame("c_subscribe.json"));
      ws.push(frame("s_subscribe_error.json"));
      expect(handler.refusedLog.map((r) => [r.channel, r.err.code])).toEqual([["admin:x", 103]]);
    });
  });

  it("reports the gap push: the channel, its new epoch and the old position", () => {
    ws.push(frame("s_subscribe.json"));
    ws.push(frame("s_gap.json"));
    expect(handler.gapLog).toEqual([{ channel: "chat:lobby", epoch: "x2", from: { epoch: "x1", offset: 44 } }]);
    expect(handler.publications).toEqual([]);
  });

  it("answers ping with pong", () => {
    ws.push(frame("s_ping.json"));
    expect(ws.sent.at(-1)).toBe(frame("c_pong.json"));
  });

  it("reports join, leave, unsubscribed and error pushes", () => {
    ws.push(frame("s_subscribe.json"));
    ws.push(frame("s_join.json"));
    ws.push(frame("s_leave.json"));
    expect(handler.presenceLog).toEqual([
      { kind: "join", ev: { channel: "chat:lobby", client: "d93a...", user: "bob", info: { name: "Bob" } } },
      { kind: "leave", ev: { channel: "chat:lobby", client: "d93a...", user: "bob" } },
    ]);
    ws.push(frame("s_unsubscribed.json"));
    expect(handler.endedLog).toEqual([{ channel: "chat:lobby", code: 103, reason: "permission denied" }]);
    ws.push(frame("s_error.json"));
    expect(handler.errors.map((e) => e.code)).toEqual([107]);
  });

  it("answers publish and history with their replies", async () => {
    const pub = conn.request({ type: "publish", channel: "chat:lobby", data: { text: "yo" }, key: "k-123" }, 1000);
    // Its id is 3: connect took 1 and subscribe 2, as in the golden frames.
    expect(ws.sent.at(-1)).toBe(frame("c_publish_key.json"));
    ws.push(frame("s_publish.json"));
    await expect(pub).resolves.toMatchObject({ epoch: "x1", offset: 45 });
  });

  it("ends as the disconnect push says: reconnect", async () => {
    ws.push(frame("s_disconnect.json"));
    ws.drop(3001, "shutdown");
    await expect(conn.closed).resolves.toMatchObject({ code: 3001, reconnect: true });
  });

  it("ends as the disconnect push says: do not reconnect", async () => {
    ws.push(frame("s_disconnect_invalid_token.json"));
    ws.drop(3500, "invalid token");
    const info = await conn.closed;
    expect(info).toMatchObject({ code: 3500, reconnect: false });
    expect(info.error).toBeInstanceOf(SwitchboardError);
  });

  it("follows the close code when the disconnect push was lost", async () => {
    ws.drop(3502, "disconnected");
    await expect(conn.closed).resolves.toMatchObject({ code: 3502, reconnect: false });
  });

  it("takes a connection silent past ping_interval plus grace for dead", async () => {
    // s_connect.json says 25s; the grace is 10s by default.
    ws.push(frame("s_subscribe.json"));
    await vi.advanceTimersByTimeAsync(20_000);
    ws.push(frame("s_ping.json"));
    await vi.advanceTimersByTimeAsync(34_000);
    expect(ws.closedWith).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1_500);
    await expect(conn.closed).resolves.toMatchObject({ code: 0, reconnect: true });
    expect(ws.closedWith).toBe(1000);
  });
});
