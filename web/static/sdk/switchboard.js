// Switchboard client SDK 0.1.0 (MIT). Built from sdk/ts; do not edit.

// src/backoff.ts
var Backoff = class {
  constructor(opts) {
    this.attempts = 0;
    this.opts = { random: Math.random, now: Date.now, ...opts };
    this.opts.max = Math.max(this.opts.max, this.opts.min);
  }
  /** The number of waits drawn since the last reset. */
  get count() {
    return this.attempts;
  }
  /** The largest wait the next draw may return: min(max, min·2^n). */
  ceiling() {
    const { min, max } = this.opts;
    return Math.min(max, min * 2 ** this.attempts);
  }
  /** Draws the wait before the next attempt, in [0, ceiling()], and counts the attempt. */
  next() {
    const c = this.ceiling();
    if (this.attempts < 64) this.attempts++;
    return Math.min(c, Math.floor(this.opts.random() * (c + 1)));
  }
  /** Starts again from min. */
  reset() {
    this.attempts = 0;
  }
  /** A connection opened. */
  connected() {
    this.connectedAt = this.opts.now();
  }
  /**
   * The connection ended. One that lasted stableAfter was healthy, so the
   * next wait starts from min again; one that dropped soon after opening
   * (a node that accepts and then fails) keeps the waits growing.
   */
  disconnected() {
    if (this.connectedAt !== void 0 && this.opts.now() - this.connectedAt >= this.opts.stableAfter) {
      this.reset();
    }
    this.connectedAt = void 0;
  }
};

// src/errors.ts
var ErrorCode = {
  /** No answer from the node: network failure, timeout, connection closed. */
  NoAnswer: 0,
  Internal: 100,
  Unauthorized: 101,
  UnknownChannel: 102,
  PermissionDenied: 103,
  UnknownCommand: 104,
  AlreadySubscribed: 105,
  LimitExceeded: 106,
  BadRequest: 107,
  NotAvailable: 108,
  TokenExpired: 109,
  TooManyRequests: 110,
  InvalidChannel: 111,
  MessageTooLarge: 112,
  NotSubscribed: 113,
  BadCursor: 114,
  NotConnected: 115,
  OriginNotAllowed: 116,
  Unavailable: 117,
  ConnectionLimit: 118
};
var DisconnectCode = {
  Normal: 3e3,
  Shutdown: 3001,
  Slow: 3002,
  NoPong: 3003,
  ServerError: 3004,
  TokenExpired: 3005,
  ConnectionLimit: 3006,
  InsufficientState: 3007,
  InvalidToken: 3500,
  BadRequest: 3501,
  Disconnected: 3502,
  MessageTooLarge: 3503,
  Forbidden: 3504
};
var SwitchboardError = class extends Error {
  constructor(code, message, status) {
    super(message);
    this.name = "SwitchboardError";
    this.code = code;
    if (status !== void 0) this.status = status;
  }
  /**
   * Whether the same request may succeed later unchanged: no answer, an
   * internal error, too many requests, a node that is busy or shutting down.
   */
  get temporary() {
    return isTemporary(this.code);
  }
};
function isTemporary(code) {
  return code === ErrorCode.NoAnswer || code === ErrorCode.Internal || code === ErrorCode.TooManyRequests || code === ErrorCode.Unavailable || code === ErrorCode.ConnectionLimit;
}
function noAnswer(message) {
  return new SwitchboardError(ErrorCode.NoAnswer, message);
}
function asSwitchboardError(err) {
  if (err instanceof SwitchboardError) return err;
  return noAnswer(err instanceof Error ? err.message : String(err));
}

// src/connector.ts
var Connector = class {
  constructor(o) {
    this.o = o;
    this.run = 0;
    this.preferred = Math.max(0, o.transports.indexOf(this.remembered()));
  }
  /** The open connection, if any. */
  get connection() {
    return this.current;
  }
  /** The transport the next attempt starts with. */
  get preferredTransport() {
    return this.o.transports[this.preferred];
  }
  get running() {
    return this.run % 2 === 1;
  }
  start() {
    if (this.running) return;
    const id = ++this.run;
    void this.loop(id);
  }
  stop() {
    if (!this.running) return;
    this.run++;
    const c = this.current;
    this.current = void 0;
    c?.close();
    this.wake();
  }
  /** Ends a backoff wait early (the browser went back online). */
  wake() {
    this.wakeUp?.();
  }
  async loop(id) {
    const live = () => id === this.run;
    while (live()) {
      const opened = await this.connect(live);
      if (!live()) {
        if ("conn" in opened) opened.conn.close();
        return;
      }
      let info;
      if ("conn" in opened) {
        this.o.backoff.connected();
        info = await this.serve(live, opened.conn, opened.index);
        if (!live()) return;
        this.o.backoff.disconnected();
      } else {
        const e = opened.error;
        info = { code: e.code, reason: e.message, reconnect: !opened.fatal, error: e };
      }
      if (info.reconnect && expired(info)) {
        try {
          await this.o.refreshToken();
        } catch (err) {
          const e = asSwitchboardError(err);
          info = { code: info.code, reason: `token expired and not renewed: ${e.message}`, reconnect: false, error: e };
        }
        if (!live()) return;
      }
      if (!info.reconnect) this.run++;
      this.o.onDisconnected(info);
      if (!info.reconnect) return;
      await this.sleep(this.o.backoff.next());
    }
  }
  async connect(live) {
    try {
      await this.o.prepare();
    } catch (err) {
      return { error: asSwitchboardError(err), fatal: false };
    }
    const n = this.o.transports.length;
    let last = noAnswer("no transport");
    let renewed = false;
    for (let k = 0; k < n && live(); k++) {
      const i = (this.preferred + k) % n;
      const t = this.o.transports[i];
      this.o.onConnecting(t);
      try {
        const conn = await this.open(t);
        if (!live()) conn.close();
        else this.prefer(i);
        return { conn, index: i };
      } catch (err) {
        const e = asSwitchboardError(err);
        if (e.code === ErrorCode.NoAnswer) {
          last = e;
          continue;
        }
        if (e.code === ErrorCode.TokenExpired && !renewed) {
          try {
            await this.o.refreshToken();
          } catch (te) {
            return { error: asSwitchboardError(te), fatal: true };
          }
          renewed = true;
          k--;
          continue;
        }
        return { error: e, fatal: !e.temporary };
      }
    }
    return { error: last, fatal: false };
  }
  /** Opens a transport up to its first frame, within openTimeout. */
  open(t) {
    const conn = this.o.create(t);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        conn.close();
        reject(noAnswer(`${t} did not open within ${this.o.openTimeout}ms`));
      }, this.o.openTimeout);
      conn.open().then(
        () => {
          clearTimeout(timer);
          resolve(conn);
        },
        (err) => {
          clearTimeout(timer);
          conn.close();
          reject(err);
        }
      );
    });
  }
  /**
   * serve runs conn until it ends, switching to a better transport when one
   * opens meanwhile, and returns how the last connection ended.
   */
  async serve(live, conn, index) {
    for (; ; ) {
      this.current = conn;
      const served = conn;
      served.onClosed((info) => {
        if (this.current !== served || !live()) return;
        this.current = void 0;
        this.o.onLost?.(info);
      });
      this.o.onConnected(conn);
      conn.start();
      const watch = this.watchUpgrade(live, index);
      const r = await Promise.race([conn.closed.then((info) => ({ info })), watch.better]);
      watch.cancel();
      if ("info" in r) {
        if (this.current === conn) this.current = void 0;
        void watch.better.then((b) => b.conn.close());
        return r.info;
      }
      this.current = r.conn;
      conn.close();
      if (!live()) {
        this.current = void 0;
        r.conn.close();
        return r.conn.closed;
      }
      conn = r.conn;
      index = r.index;
      this.prefer(index);
    }
  }
  // watchUpgrade tries the transports better than index every
  // upgradeInterval; `better` resolves with the first that opens.
  watchUpgrade(live, index) {
    let cancelled = false;
    let timer;
    const better = new Promise((resolve) => {
      if (index === 0 || this.o.upgradeInterval < 0) return;
      const tick = async () => {
        for (let j = 0; j < index; j++) {
          if (cancelled || !live()) return;
          try {
            const conn = await this.open(this.o.transports[j]);
            if (cancelled || !live()) {
              conn.close();
              return;
            }
            resolve({ conn, index: j });
            return;
          } catch {
          }
        }
        if (!cancelled) timer = setTimeout(tick, this.o.upgradeInterval);
      };
      timer = setTimeout(tick, this.o.upgradeInterval);
    });
    return {
      better,
      cancel: () => {
        cancelled = true;
        clearTimeout(timer);
      }
    };
  }
  sleep(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakeUp = void 0;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
  prefer(i) {
    this.preferred = i;
    try {
      this.o.storage?.setItem(this.o.storageKey, this.o.transports[i]);
    } catch {
    }
  }
  remembered() {
    try {
      return this.o.storage?.getItem(this.o.storageKey) ?? null;
    } catch {
      return null;
    }
  }
};
function expired(info) {
  return info.code === 3005 || info.error?.code === ErrorCode.TokenExpired;
}

// src/emitter.ts
var Emitter = class {
  constructor() {
    this.listeners = /* @__PURE__ */ new Map();
  }
  /** Adds a listener; the function returned removes it. */
  on(event, listener) {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, set = /* @__PURE__ */ new Set());
    set.add(listener);
    return () => this.off(event, listener);
  }
  /** Adds a listener for the next event only. */
  once(event, listener) {
    const off = this.on(event, (e) => {
      off();
      listener(e);
    });
    return off;
  }
  off(event, listener) {
    this.listeners.get(event)?.delete(listener);
  }
  /**
   * Calls every listener of the event in the order they were added. A
   * listener that throws must not stop the others nor the SDK's own work
   * (a dropped publication would break the delivery guarantee), so its error
   * is rethrown on its own, where the platform reports uncaught errors.
   */
  emit(event, value) {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const l of [...set]) {
      try {
        l(value);
      } catch (err) {
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
};

// src/options.ts
var DEFAULT_TRANSPORTS = ["websocket", "sse", "longpoll"];
function resolveOptions(url, o) {
  const transports = o.transports?.length ? [...o.transports] : [...DEFAULT_TRANSPORTS];
  const seen = /* @__PURE__ */ new Set();
  for (const t of transports) {
    if (!["websocket", "sse", "longpoll", "poll"].includes(t)) throw new TypeError(`unknown transport ${JSON.stringify(t)}`);
    if (seen.has(t)) throw new TypeError(`transport ${t} listed twice`);
    seen.add(t);
  }
  const g = globalThis;
  const ms = (v, def) => v !== void 0 && v > 0 ? v : def;
  const minBackoff = ms(o.minBackoff, 500);
  return {
    transports,
    endpoints: endpoints(url, o.endpoints ?? {}),
    minBackoff,
    maxBackoff: Math.max(ms(o.maxBackoff, 2e4), minBackoff),
    stableAfter: ms(o.stableAfter, 1e4),
    openTimeout: ms(o.openTimeout, 5e3),
    upgradeInterval: o.upgradeInterval === void 0 || o.upgradeInterval === 0 ? 18e4 : o.upgradeInterval,
    pingGrace: ms(o.pingGrace, 1e4),
    longPollTimeout: ms(o.longPollTimeout, 25e3),
    pollInterval: ms(o.pollInterval, 2e3),
    requestTimeout: ms(o.requestTimeout, 1e4),
    publishTimeout: ms(o.publishTimeout, 3e4),
    withCredentials: o.withCredentials === true,
    WebSocket: o.WebSocket ?? g.WebSocket,
    EventSource: o.EventSource ?? g.EventSource,
    // Bound, because some browsers refuse fetch called on another object.
    fetch: o.fetch ?? (typeof g.fetch === "function" ? g.fetch.bind(globalThis) : void 0),
    storage: o.storage === void 0 ? sessionStorageIfAny() : o.storage,
    share: o.share === true ? "default" : typeof o.share === "string" && o.share !== "" ? o.share : void 0
  };
}
function endpoints(base, over) {
  const u = new URL(base, globalThis.location?.href);
  let http;
  let ws;
  switch (u.protocol) {
    case "http:":
    case "ws:":
      [http, ws] = ["http:", "ws:"];
      break;
    case "https:":
    case "wss:":
      [http, ws] = ["https:", "wss:"];
      break;
    default:
      throw new TypeError(`URL ${base}: the scheme must be http, https, ws or wss`);
  }
  const path = u.pathname.replace(/\/+$/, "");
  const at = (scheme, p) => `${scheme}//${u.host}${path}${p}`;
  const resolve = (s) => new URL(s, u).href;
  return {
    websocket: over.websocket ? resolve(over.websocket).replace(/^http(s?):/i, "ws$1:") : at(ws, "/connection/websocket"),
    sse: over.sse ? resolve(over.sse) : at(http, "/connection/sse"),
    poll: over.poll ? resolve(over.poll) : at(http, "/connection/poll"),
    publish: over.publish ? resolve(over.publish) : at(http, "/connection/publish"),
    presence: over.presence ? resolve(over.presence) : at(http, "/connection/presence"),
    history: over.history ? resolve(over.history) : at(http, "/connection/history")
  };
}
function sessionStorageIfAny() {
  try {
    const s = globalThis.sessionStorage;
    return s ?? null;
  } catch {
    return null;
  }
}

// src/protocol.ts
function encodeCommand(c) {
  const o = { type: c.type };
  if (c.id) o.id = c.id;
  if (c.token) o.token = c.token;
  if (c.channel) o.channel = c.channel;
  if (c.since) o.since = { epoch: c.since.epoch, offset: c.since.offset };
  if (c.type === "publish") {
    if (c.data === void 0) throw new TypeError("publish needs data: any JSON value");
    o.data = c.data;
  }
  if (c.key) o.key = c.key;
  if (c.limit) o.limit = c.limit;
  if (c.reverse) o.reverse = true;
  return JSON.stringify(o);
}
function parseFrame(text) {
  const v = JSON.parse(text);
  if (!isObject(v) || typeof v.type !== "string") throw new SyntaxError("frame is not an object with a type");
  return v;
}
function parsePublication(v) {
  if (!isObject(v) || typeof v.channel !== "string" || typeof v.epoch !== "string" || typeof v.offset !== "number") {
    throw new SyntaxError("not a publication");
  }
  return v;
}
function publicationOf(f) {
  const { type: _type, ...rest } = f;
  return parsePublication(rest);
}
function positionOf(v) {
  if (!isObject(v) || typeof v.epoch !== "string" || typeof v.offset !== "number") return void 0;
  return { epoch: v.epoch, offset: v.offset };
}
function wireErrorOf(v) {
  if (!isObject(v) || !isObject(v.error)) return void 0;
  const { code, message } = v.error;
  if (typeof code !== "number") return void 0;
  return { code, message: typeof message === "string" ? message : "" };
}
var POLL_CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;
function parsePollReply(v) {
  if (!isObject(v) || !Array.isArray(v.publications) || typeof v.cursor !== "string") {
    throw new SyntaxError("not a poll reply");
  }
  const r = {
    publications: v.publications.map(parsePublication),
    cursor: v.cursor,
    recovered: v.recovered !== false,
    gaps: Array.isArray(v.gaps) ? v.gaps.filter((g) => typeof g === "string") : []
  };
  if (typeof v.client === "string" && POLL_CLIENT_ID.test(v.client)) r.client = v.client;
  return r;
}
function parseConnected(v) {
  if (!isObject(v) || !isObject(v.channels)) throw new SyntaxError("not a connected event");
  return {
    client: typeof v.client === "string" ? v.client : "",
    channels: v.channels,
    ...typeof v.ping_interval === "number" && v.ping_interval > 0 ? { ping_interval: v.ping_interval } : {}
  };
}
function parseDisconnect(v) {
  if (!isObject(v) || typeof v.code !== "number") throw new SyntaxError("not a disconnect");
  return {
    code: v.code,
    reason: typeof v.reason === "string" ? v.reason : "",
    reconnect: typeof v.reconnect === "boolean" ? v.reconnect : reconnects(v.code)
  };
}
function reconnects(code) {
  return !(code >= 3500 && code <= 3999);
}
function clientInfoOf(v) {
  const c = { client: String(v.client ?? "") };
  if (typeof v.user === "string" && v.user !== "") c.user = v.user;
  if (v.info !== void 0 && v.info !== null) c.info = v.info;
  return c;
}
function isObject(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// src/cursor.ts
var MAX_CURSOR_LENGTH = 8192;
var MAX_CURSOR_CHANNELS = 1024;
var MAX_EPOCH_BYTES = 64;
var VERSION = 1;
var MASK64 = (1n << 64n) - 1n;
var FNV_OFFSET = 14695981039346656037n;
var FNV_PRIME = 1099511628211n;
var utf8 = new TextEncoder();
var utf8Decoder = new TextDecoder();
var CursorError = class extends Error {
  constructor(message) {
    super(`bad cursor: ${message}`);
    this.name = "CursorError";
  }
};
function channelHash(channel) {
  let h = FNV_OFFSET;
  for (const b of utf8.encode(channel)) {
    h ^= BigInt(b);
    h = h * FNV_PRIME & MASK64;
  }
  return h;
}
var crcTable = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 3988292384 ^ c >>> 1 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(bytes) {
  let c = 4294967295;
  for (const b of bytes) c = crcTable[(c ^ b) & 255] ^ c >>> 8;
  return (c ^ 4294967295) >>> 0;
}
var Cursor = class _Cursor {
  constructor() {
    this.entries = [];
  }
  /** Builds a cursor from channel positions. */
  static from(positions) {
    const c = new _Cursor();
    for (const [channel, p] of positions) c.set(channel, p);
    return c;
  }
  /** Decodes a cursor, as strictly as the node does. Throws CursorError. */
  static parse(s) {
    return parseCursor(s);
  }
  get size() {
    return this.entries.length;
  }
  /** Records the position of a channel. */
  set(channel, p) {
    this.setEntry({ hash: channelHash(channel), epoch: p.epoch, offset: BigInt(p.offset) });
  }
  /** The position recorded for a channel, with a number offset. */
  get(channel) {
    const e = this.entry(channel);
    return e && { epoch: e.epoch, offset: Number(e.offset) };
  }
  /** The entry recorded for a channel, with its exact 64-bit offset. */
  entry(channel) {
    const [i, found] = this.find(channelHash(channel));
    return found ? { ...this.entries[i] } : void 0;
  }
  /** Forgets a channel. */
  delete(channel) {
    const [i, found] = this.find(channelHash(channel));
    if (found) this.entries.splice(i, 1);
  }
  /** The entries in hash order (copies). */
  list() {
    return this.entries.map((e) => ({ ...e }));
  }
  /** Encodes the cursor as the node does. */
  toString() {
    const out = [VERSION];
    putUvarint(out, BigInt(this.entries.length));
    for (const e of this.entries) {
      for (let shift = 56n; shift >= 0n; shift -= 8n) out.push(Number(e.hash >> shift & 0xffn));
      const epoch = utf8.encode(e.epoch);
      putUvarint(out, BigInt(epoch.length));
      for (const b of epoch) out.push(b);
      putUvarint(out, e.offset);
    }
    const body = Uint8Array.from(out);
    const sum = crc32(body);
    const raw = new Uint8Array(body.length + 4);
    raw.set(body);
    new DataView(raw.buffer).setUint32(body.length, sum);
    return base64url(raw);
  }
  /** @internal */
  setEntry(e) {
    const [i, found] = this.find(e.hash);
    if (found) this.entries[i] = e;
    else this.entries.splice(i, 0, e);
  }
  // Binary search: the index of hash h, or where it would go.
  find(h) {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = lo + hi >>> 1;
      if (this.entries[mid].hash < h) lo = mid + 1;
      else hi = mid;
    }
    return [lo, lo < this.entries.length && this.entries[lo].hash === h];
  }
};
function putUvarint(out, v) {
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 128);
    v >>= 7n;
  }
  out.push(Number(v));
}
function readUvarint(b, at) {
  let v = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (at + i >= b.length) return [0n, 0];
    const byte = b[at + i];
    if (i === 9 && byte > 1) return [0n, -1];
    v |= BigInt(byte & 127) << shift;
    if (byte < 128) {
      if (i > 0 && byte === 0) return [0n, -1];
      return [v, i + 1];
    }
    shift += 7n;
  }
  return [0n, -1];
}
var ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
var DECODE = (() => {
  const t = new Int16Array(256).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) t[ALPHABET.charCodeAt(i)] = i;
  return t;
})();
function base64url(b) {
  let s = "";
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = b[i] << 16 | b[i + 1] << 8 | b[i + 2];
    s += ALPHABET[n >> 18] + ALPHABET[n >> 12 & 63] + ALPHABET[n >> 6 & 63] + ALPHABET[n & 63];
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = b[i] << 16;
    s += ALPHABET[n >> 18] + ALPHABET[n >> 12 & 63];
  } else if (rest === 2) {
    const n = b[i] << 16 | b[i + 1] << 8;
    s += ALPHABET[n >> 18] + ALPHABET[n >> 12 & 63] + ALPHABET[n >> 6 & 63];
  }
  return s;
}
function unbase64url(s) {
  if (s.length % 4 === 1) return void 0;
  const out = new Uint8Array(Math.floor(s.length * 3 / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const v = DECODE[s.charCodeAt(i) & 255];
    if (v < 0 || s.charCodeAt(i) > 255) return void 0;
    acc = acc << 6 | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = acc >> bits & 255;
      acc &= (1 << bits) - 1;
    }
  }
  if (acc !== 0) return void 0;
  return out;
}
function parseCursor(s) {
  if (s.length === 0) throw new CursorError("empty");
  if (s.length > MAX_CURSOR_LENGTH) throw new CursorError(`${s.length} characters, at most ${MAX_CURSOR_LENGTH}`);
  for (let i = 0; i < s.length; i++) {
    const c2 = s.charCodeAt(i);
    if (c2 > 255 || DECODE[c2] < 0) throw new CursorError(`character ${JSON.stringify(s[i])} at ${i} is not URL-safe base64`);
  }
  const raw = unbase64url(s);
  if (!raw) throw new CursorError("not base64url");
  if (raw.length < 1 + 1 + 4) throw new CursorError("truncated");
  const body = raw.subarray(0, raw.length - 4);
  const sum = new DataView(raw.buffer, raw.byteOffset + raw.length - 4, 4).getUint32(0);
  if (crc32(body) !== sum) throw new CursorError("checksum mismatch");
  if (body[0] !== VERSION) throw new CursorError(`unknown version ${body[0]}`);
  let at = 1;
  const [n, k] = readUvarint(body, at);
  if (k <= 0) throw new CursorError("truncated or non-minimal number");
  at += k;
  if (n > BigInt(MAX_CURSOR_CHANNELS)) throw new CursorError(`${n} channels, at most ${MAX_CURSOR_CHANNELS}`);
  if (n > BigInt(Math.floor((body.length - at) / 10))) throw new CursorError("truncated");
  const c = new Cursor();
  let last = -1n;
  for (let i = 0; i < Number(n); i++) {
    if (body.length - at < 8) throw new CursorError("truncated");
    let h = 0n;
    for (let j = 0; j < 8; j++) h = h << 8n | BigInt(body[at + j]);
    at += 8;
    if (h <= last) throw new CursorError("entries out of order");
    last = h;
    const [elen, k1] = readUvarint(body, at);
    if (k1 <= 0) throw new CursorError("truncated or non-minimal number");
    at += k1;
    if (elen > BigInt(MAX_EPOCH_BYTES)) throw new CursorError(`epoch of ${elen} bytes, at most ${MAX_EPOCH_BYTES}`);
    if (BigInt(body.length - at) < elen) throw new CursorError("truncated");
    const epoch = utf8Decoder.decode(body.subarray(at, at + Number(elen)));
    at += Number(elen);
    const [offset, k2] = readUvarint(body, at);
    if (k2 <= 0) throw new CursorError("truncated or non-minimal number");
    at += k2;
    c.setEntry({ hash: h, epoch, offset });
  }
  if (at !== body.length) throw new CursorError(`${body.length - at} trailing bytes`);
  return c;
}

// src/transports/http.ts
function cursorFor(reqs) {
  const c = new Cursor();
  for (const r of reqs) if (r.since) c.set(r.channel, r.since);
  return c.size ? c.toString() : void 0;
}
function streamURL(endpoint, reqs, token, extra = {}) {
  const u = new URL(endpoint);
  for (const r of reqs) u.searchParams.append("channel", r.channel);
  const cursor = cursorFor(reqs);
  if (cursor) u.searchParams.set("cursor", cursor);
  if (token) u.searchParams.set("token", token);
  for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v);
  return u.href;
}
function getInit(options) {
  return options.withCredentials ? { method: "GET", credentials: "include" } : { method: "GET" };
}
function needFetch(f) {
  if (!f) throw noAnswer("no fetch: pass options.fetch");
  return f;
}
async function requestJSON(f, url, init, timeout, signal) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeout);
  const onAbort = () => ctl.abort();
  signal?.addEventListener("abort", onAbort);
  try {
    let res;
    try {
      res = await f(url, { ...init, signal: ctl.signal });
    } catch (err) {
      throw noAnswer(ctl.signal.aborted && !signal?.aborted ? `no answer within ${timeout}ms` : `request failed: ${messageOf(err)}`);
    }
    let body;
    try {
      body = JSON.parse(await res.text());
    } catch {
      throw new SwitchboardError(ErrorCode.NoAnswer, `HTTP ${res.status} without a JSON body`, res.status);
    }
    const we = wireErrorOf(body);
    if (we) throw new SwitchboardError(we.code, we.message, res.status);
    if (!res.ok) throw new SwitchboardError(ErrorCode.NoAnswer, `HTTP ${res.status}`, res.status);
    return body;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}
function messageOf(err) {
  return err instanceof Error ? err.message : String(err);
}
var CHANNEL_CODES = [
  ErrorCode.UnknownChannel,
  ErrorCode.PermissionDenied,
  ErrorCode.InvalidChannel,
  ErrorCode.NotAvailable
];
async function refusedChannels(ctx, err, channels) {
  const bad = /* @__PURE__ */ new Map();
  if (!CHANNEL_CODES.includes(err.code)) return bad;
  if (channels.length === 1) {
    bad.set(channels[0], err);
    return bad;
  }
  const token = ctx.handler.token();
  await Promise.all(
    channels.map(async (channel) => {
      try {
        await askPoll(ctx, [{ channel }], token);
      } catch (e) {
        if (e instanceof SwitchboardError && CHANNEL_CODES.includes(e.code)) bad.set(channel, e);
      }
    })
  );
  return bad;
}
async function settleRefusal(ctx, err, reqs) {
  switch (err.code) {
    case ErrorCode.BadCursor:
      ctx.handler.badCursor();
      return;
    case ErrorCode.TokenExpired:
      await ctx.handler.refreshToken();
      return;
  }
  const bad = await refusedChannels(
    ctx,
    err,
    reqs.map((r) => r.channel)
  );
  if (bad.size === 0) throw err;
  for (const [channel, e] of bad) ctx.handler.refused(channel, e);
}
function sameChannels(a, b) {
  if (a.length !== b.length) return false;
  const s = new Set(a.map((r) => r.channel));
  return b.every((r) => s.has(r.channel));
}
async function presenceOverHTTP(options, channel, token, refreshToken) {
  const body = await askOverHTTP(options, "presence", options.endpoints.presence, { channel }, token, refreshToken);
  return body.clients;
}
async function historyOverHTTP(options, channel, q, token, refreshToken) {
  const params = { channel };
  if (q.since) {
    params.since_epoch = q.since.epoch;
    params.since_offset = String(q.since.offset);
  }
  if (q.limit) params.limit = String(q.limit);
  if (q.reverse) params.reverse = "true";
  return askOverHTTP(options, "history", options.endpoints.history, params, token, refreshToken);
}
async function positionOverHTTP(options, channel, token, refreshToken) {
  const f = await askOverHTTP(options, "history", options.endpoints.history, { channel, limit: "0" }, token, refreshToken);
  if (typeof f.epoch !== "string" || typeof f.offset !== "number") throw noAnswer("the history reply has no position");
  return { epoch: f.epoch, offset: f.offset };
}
async function askOverHTTP(options, what, endpoint, params, token, refreshToken) {
  const f = needFetch(options.fetch);
  for (let renewed = false; ; renewed = true) {
    const u = new URL(endpoint);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    const t = token();
    if (t) u.searchParams.set("token", t);
    try {
      const body = await requestJSON(f, u.href, getInit(options), options.requestTimeout);
      if (!isObject(body)) throw noAnswer(`unreadable ${what} reply`);
      return body;
    } catch (err) {
      if (!renewed && err instanceof SwitchboardError && err.code === ErrorCode.TokenExpired) {
        await refreshToken();
        continue;
      }
      throw err;
    }
  }
}
async function probe(options, token) {
  const u = new URL(options.endpoints.poll);
  u.searchParams.set("timeout", "0");
  if (token) u.searchParams.set("token", token);
  try {
    await requestJSON(needFetch(options.fetch), u.href, getInit(options), Math.min(options.requestTimeout, options.openTimeout));
  } catch (err) {
    if (err instanceof SwitchboardError && err.code !== ErrorCode.NoAnswer) return;
    throw err instanceof SwitchboardError ? err : noAnswer(String(err));
  }
}
async function askPoll(ctx, reqs, token) {
  const extra = { timeout: "0" };
  const memory = ctx.memory;
  if (memory?.pollClient) extra.client = memory.pollClient;
  const body = await requestJSON(needFetch(ctx.options.fetch), streamURL(ctx.options.endpoints.poll, reqs, token, extra), getInit(ctx.options), ctx.options.requestTimeout);
  if (memory && isObject(body) && typeof body.client === "string" && POLL_CLIENT_ID.test(body.client)) memory.pollClient = body.client;
}

// src/publish.ts
function newKey() {
  const c = globalThis.crypto;
  if (c?.randomUUID) return c.randomUUID();
  const b = new Uint8Array(16);
  if (c?.getRandomValues) c.getRandomValues(b);
  else for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
async function publish(deps, channel, data, opts = {}) {
  if (data === void 0) throw new TypeError("publish needs data: any JSON value");
  const o = deps.options;
  const key = opts.key ?? newKey();
  const deadline = Date.now() + (opts.timeout ?? o.publishTimeout);
  const backoff = new Backoff({ min: o.minBackoff, max: Math.min(o.maxBackoff, 5e3), stableAfter: Infinity });
  let renewed = false;
  for (; ; ) {
    if (opts.signal?.aborted) throw noAnswer("publish aborted");
    try {
      return await attempt(deps, channel, data, key, Math.min(o.requestTimeout, Math.max(1, deadline - Date.now())), opts.signal);
    } catch (err) {
      const e = asSwitchboardError(err);
      if (opts.signal?.aborted) throw e;
      if (e.code === ErrorCode.TokenExpired && !renewed) {
        await deps.refreshToken();
        renewed = true;
        continue;
      }
      if (!e.temporary) throw e;
      const wait = backoff.next();
      if (Date.now() + wait >= deadline) throw e;
      await sleep(wait, opts.signal);
    }
  }
}
async function attempt(deps, channel, data, key, timeout, signal) {
  const conn = deps.connection();
  if (conn?.request) {
    const f = await conn.request({ type: "publish", channel, data, key }, timeout);
    if (f.error) throw new SwitchboardError(f.error.code, f.error.message);
    return { epoch: String(f.epoch ?? ""), offset: Number(f.offset ?? 0), key };
  }
  const headers = { "Content-Type": "application/json" };
  const token = deps.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  const body = await requestJSON(
    needFetch(deps.options.fetch),
    deps.options.endpoints.publish,
    {
      method: "POST",
      headers,
      body: JSON.stringify({ channel, data, key }),
      ...deps.options.withCredentials ? { credentials: "include" } : {}
    },
    timeout,
    signal
  );
  if (!isObject(body) || typeof body.offset !== "number") throw noAnswer("unreadable publish reply");
  const r = { epoch: String(body.epoch ?? ""), offset: body.offset, key };
  if (body.duplicate === true) r.duplicate = true;
  return r;
}
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

// src/subscription.ts
var Subscription = class extends Emitter {
  /** @internal */
  constructor(channel, owner, since) {
    super();
    this.channel = channel;
    this.owner = owner;
    this.st = "subscribing";
    // Set when the position had to be dropped: the next start is a gap.
    this.forgotten = false;
    if (since) this.pos = { epoch: since.epoch, offset: since.offset };
  }
  get state() {
    return this.st;
  }
  /**
   * The last position delivered (or where the node started the channel). Keep
   * it to resume in a later page load: subscribe(channel, { since: position }).
   */
  get position() {
    return this.pos && { ...this.pos };
  }
  /** Stops the subscription. Its position is forgotten with it. */
  unsubscribe() {
    if (this.st === "unsubscribed") return;
    this.st = "unsubscribed";
    this.owner.removeSubscription(this);
    this.emit("unsubscribed", { channel: this.channel, reason: "unsubscribed" });
  }
  /** Publishes to this channel; see Switchboard.publish. */
  publish(data, opts) {
    return this.owner.publish(this.channel, data, opts);
  }
  /**
   * @internal Where the channel was when the subscription was made: it
   * starts from there, unless a position came first.
   */
  createdAt(pos) {
    if (this.st !== "subscribing" || this.pos) return;
    this.pos = { epoch: pos.epoch, offset: pos.offset };
  }
  /** @internal The node started the channel on a connection; `since` is what was sent. */
  started(r, since) {
    if (this.st === "unsubscribed") return;
    const latest = { epoch: r.epoch, offset: r.offset };
    const from = this.pos;
    const lost = since !== void 0 && !r.recovered || this.forgotten;
    this.forgotten = false;
    if (lost || !this.pos) {
      this.pos = latest;
    } else if (since === void 0 && this.pos.epoch !== latest.epoch) {
      this.pos = latest;
    }
    this.st = "subscribed";
    this.emit("subscribed", { channel: this.channel, epoch: r.epoch, offset: r.offset, recovered: !lost });
    if (lost) this.emit("gap", { channel: this.channel, epoch: r.epoch, offset: r.offset, recovered: false, ...from ? { from } : {} });
  }
  /**
   * @internal The node says the channel's history was replaced under the
   * subscription: a gap, and the position moves to the start of the new
   * epoch, whose publications follow. Nothing to report when the position
   * is in that epoch already.
   */
  epochChanged(epoch, nodeFrom) {
    if (this.st === "unsubscribed") return;
    const from = this.pos ?? nodeFrom;
    if (from && from.epoch === epoch) return;
    this.pos = { epoch, offset: 0 };
    this.emit("gap", { channel: this.channel, epoch, offset: 0, recovered: false, ...from ? { from: { ...from } } : {} });
  }
  /**
   * @internal Delivers a publication unless it is one already delivered. A
   * publication from another epoch, or one that skips offsets, means some
   * were lost: the application hears of the gap before the publication.
   */
  deliver(p) {
    if (this.st === "unsubscribed") return false;
    const pos = this.pos;
    if (pos && p.epoch === pos.epoch && p.offset <= pos.offset) return false;
    if (pos && (p.epoch !== pos.epoch || p.offset > pos.offset + 1)) {
      this.emit("gap", { channel: this.channel, epoch: p.epoch, offset: p.offset - 1, recovered: false, from: { ...pos } });
    }
    this.pos = { epoch: p.epoch, offset: p.offset };
    this.emit("message", p);
    return true;
  }
  /** @internal The connection carrying it ended; it resumes on the next. */
  suspended() {
    if (this.st === "subscribed") this.st = "subscribing";
  }
  /** @internal The node refused or ended the subscription. */
  ended(err, code, reason) {
    if (this.st === "unsubscribed") return;
    this.st = "unsubscribed";
    if (err) this.emit("error", err);
    this.emit("unsubscribed", { channel: this.channel, ...code !== void 0 ? { code } : {}, reason });
  }
  /** @internal The node could not read a cursor with this position: start over. */
  forget() {
    this.pos = void 0;
    this.forgotten = true;
  }
  /** @internal */
  presence(kind, ev) {
    this.emit(kind, ev);
  }
};

// src/transports/transport.ts
var CloseSignal = class {
  constructor() {
    this.done = false;
    this.listeners = [];
    this.promise = new Promise((resolve) => this.resolveFn = resolve);
  }
  get isClosed() {
    return this.done;
  }
  /** Adds a listener called synchronously by fire ; a signal already fired never calls it. */
  listen(listener) {
    if (!this.done) this.listeners.push(listener);
  }
  /** Resolves the promise and calls the listeners; later calls are ignored. Returns whether this call did it. */
  fire(info) {
    if (this.done) return false;
    this.done = true;
    const ls = this.listeners;
    this.listeners = [];
    for (const l of ls) l(info);
    this.resolveFn(info);
    return true;
  }
};
var CLOSED_BY_CLIENT = { code: 0, reason: "closed by the client", reconnect: false };
function presenceOf(f) {
  const ev = { channel: String(f.channel ?? ""), client: String(f.client ?? "") };
  if (typeof f.user === "string") ev.user = f.user;
  if (f.info !== void 0) ev.info = f.info;
  return ev;
}

// src/transports/poll.ts
var MAX_SETTLES = 3;
var PollConnection = class {
  constructor(ctx, transport) {
    this.ctx = ctx;
    this.transport = transport;
    this.client = void 0;
    this.signal = new CloseSignal();
    this.started = false;
    // Channels the node has started on this connection.
    this.carried = /* @__PURE__ */ new Set();
    this.inFlight = [];
    this.memory = ctx.memory ?? {};
    this.client = this.memory.pollClient;
  }
  get closed() {
    return this.signal.promise;
  }
  onClosed(listener) {
    this.signal.listen(listener);
  }
  async open() {
    const reqs = this.ctx.handler.channels();
    if (reqs.length === 0) return probe(this.ctx.options, this.ctx.handler.token());
    const r = await this.poll(reqs, 0);
    if (r) this.first = { reqs: r[0], reply: r[1] };
  }
  start() {
    if (this.signal.isClosed || this.started) return;
    this.started = true;
    if (this.first) this.apply(this.first.reqs, this.first.reply);
    this.first = void 0;
    void this.loop();
  }
  /** A channel change restarts the poll in flight with the new list. */
  sync() {
    if (!this.started || this.signal.isClosed) return;
    const want = this.ctx.handler.channels();
    if (sameChannels(want, this.inFlight) && want.length > 0) return;
    this.abort?.abort();
    this.wake?.();
  }
  close() {
    this.end(CLOSED_BY_CLIENT);
  }
  async loop() {
    const long = this.transport === "longpoll";
    while (!this.signal.isClosed) {
      const reqs = this.ctx.handler.channels();
      if (reqs.length === 0) {
        this.inFlight = [];
        await new Promise((resolve) => this.wake = resolve);
        this.wake = void 0;
        continue;
      }
      try {
        const fresh = reqs.some((r2) => !this.carried.has(r2.channel));
        const r = await this.poll(reqs, long && !fresh ? this.ctx.options.longPollTimeout : 0);
        if (this.signal.isClosed) return;
        if (!r) continue;
        this.apply(r[0], r[1]);
      } catch (err) {
        if (this.signal.isClosed) return;
        if (this.abort?.signal.aborted) continue;
        const e = asSwitchboardError(err);
        this.end({ code: 0, reason: e.message, reconnect: e.code === ErrorCode.NoAnswer || e.temporary, error: e });
        return;
      }
      if (!long) await this.pause(this.ctx.options.pollInterval);
    }
  }
  /**
   * poll sends one poll for reqs and settles what the node refuses (a
   * channel, an expired token, a bad cursor) before trying again with what
   * is left. It returns the requests actually sent with the reply, or
   * undefined when every channel was refused.
   */
  async poll(reqs, holdMs) {
    const f = needFetch(this.ctx.options.fetch);
    for (let settles = 0; ; settles++) {
      this.abort = new AbortController();
      this.inFlight = reqs;
      const extra = { timeout: `${Math.ceil(holdMs)}ms` };
      if (this.memory.pollClient) extra.client = this.memory.pollClient;
      const url = streamURL(this.ctx.options.endpoints.poll, reqs, this.ctx.handler.token(), extra);
      try {
        const body = await requestJSON(f, url, getInit(this.ctx.options), holdMs + this.ctx.options.requestTimeout, this.abort.signal);
        const reply = parsePollReply(body);
        if (reply.client) this.memory.pollClient = this.client = reply.client;
        return [reqs, reply];
      } catch (err) {
        if (this.abort.signal.aborted || this.signal.isClosed) throw noAnswer("poll aborted");
        if (!(err instanceof SwitchboardError)) throw noAnswer(`unreadable poll reply: ${String(err)}`);
        if (err.code === ErrorCode.NoAnswer || err.temporary || settles >= MAX_SETTLES) throw err;
        await settleRefusal(this.ctx, err, reqs);
        reqs = this.ctx.handler.channels();
        if (reqs.length === 0) return void 0;
      }
    }
  }
  /**
   * apply hands a reply to the client: first the channels the node started
   * on this connection, and any it could not recover (a gap), then the
   * publications.
   */
  apply(reqs, reply) {
    let cursor;
    try {
      cursor = Cursor.parse(reply.cursor);
    } catch {
      cursor = void 0;
    }
    const gaps = new Set(reply.gaps);
    for (const r of reqs) {
      if (this.carried.has(r.channel) && !gaps.has(r.channel)) continue;
      const recovered = !gaps.has(r.channel);
      const start = recovered && r.since ? cursor?.get(r.channel) ?? r.since : startOf(r.channel, reply, cursor);
      if (!start) continue;
      this.carried.add(r.channel);
      this.ctx.handler.started(r.channel, { ...start, recovered }, r.since);
    }
    const kept = new Set(reqs.map((r) => r.channel));
    for (const ch of this.carried) if (!kept.has(ch)) this.carried.delete(ch);
    for (const p of reply.publications) this.ctx.handler.publication(p);
  }
  pause(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      this.wake = done;
      function done() {
        clearTimeout(t);
        resolve();
      }
    });
  }
  end(info) {
    if (!this.signal.fire(info)) return;
    this.abort?.abort();
    this.wake?.();
  }
};
function startOf(channel, reply, cursor) {
  const first = reply.publications.find((p) => p.channel === channel);
  if (first) return { epoch: first.epoch, offset: first.offset - 1 };
  return cursor?.get(channel);
}

// src/share/bus.ts
function tabId() {
  return Math.random().toString(36).slice(2, 10) + Math.random().toString(36).slice(2, 10);
}
function before(p, q) {
  return p.epoch === q.epoch && p.offset < q.offset;
}

// src/share/leader.ts
var GATHER_MS = 150;
var Leader = class {
  constructor(o) {
    this.o = o;
    this.channels = /* @__PURE__ */ new Map();
    this.members = /* @__PURE__ */ new Map();
    this.stopped = false;
    const opts = o.options;
    const ctx = { handler: this.handler(), options: opts, memory: {} };
    this.connector = new Connector({
      transports: opts.transports,
      openTimeout: opts.openTimeout,
      upgradeInterval: opts.upgradeInterval,
      backoff: new Backoff({ min: opts.minBackoff, max: opts.maxBackoff, stableAfter: opts.stableAfter }),
      storage: opts.storage,
      storageKey: o.storageKey,
      create: (t) => o.create(t, ctx),
      prepare: () => o.prepare(),
      refreshToken: () => o.refreshToken(),
      onConnecting: () => {
      },
      onConnected: (conn) => {
        this.conn = conn;
        this.post({ t: "up", leader: o.id, transport: conn.transport, ...conn.client ? { client: conn.client } : {} });
      },
      onLost: (info) => this.down(info),
      // A connection that never opened, or will not come back, is news too.
      onDisconnected: (info) => {
        if (!info.reconnect) this.down(info);
      }
    });
  }
  /** Tells the tabs it leads, gives them a moment to say what they carry, and connects. */
  start() {
    this.post({ t: "leader", leader: this.o.id, up: false });
    this.gather = setTimeout(() => {
      this.gather = void 0;
      if (!this.stopped) this.connector.start();
    }, GATHER_MS);
  }
  /** Closes the connection; the next leader takes the members over. */
  stop() {
    this.stopped = true;
    clearTimeout(this.gather);
    this.connector.stop();
    this.conn = void 0;
    for (const ac of this.members.values()) ac.abort();
    this.members.clear();
    this.channels.clear();
  }
  /** A message from a tab. */
  receive(m) {
    if (this.stopped) return;
    switch (m.t) {
      case "hello": {
        this.drop(m.from);
        this.watch(m.from);
        const c = this.conn;
        this.post({ t: "leader", leader: this.o.id, to: m.from, up: c !== void 0, ...c ? { transport: c.transport } : {}, ...c?.client ? { client: c.client } : {} });
        return;
      }
      case "sync":
        if (m.to === this.o.id) this.sync(m.from, m.channels);
        return;
      case "bye":
        if (m.to === this.o.id) this.drop(m.from);
        return;
    }
  }
  post(m) {
    if (!this.stopped) this.o.post(m);
  }
  // watch waits for the member's own lock: the browser grants it to the
  // leader only once the member's tab has closed or crashed.
  watch(member) {
    if (this.members.has(member)) return;
    const ac = new AbortController();
    this.members.set(member, ac);
    this.o.locks.request(this.o.tabLock(member), { signal: ac.signal }, async () => {
      if (this.members.get(member) === ac) this.drop(member);
    }).catch(() => {
    });
  }
  drop(member) {
    this.members.get(member)?.abort();
    this.members.delete(member);
    let changed = false;
    for (const [name, ch] of this.channels) {
      if (!ch.members.delete(member)) continue;
      if (ch.members.size === 0) {
        this.channels.delete(name);
        changed = true;
      }
    }
    if (changed) this.conn?.sync();
  }
  sync(member, reqs) {
    this.watch(member);
    const want = new Map(reqs.map((r) => [r.channel, r]));
    let changed = false;
    let rewind = false;
    for (const [name, ch] of this.channels) {
      if (want.has(name) || !ch.members.delete(member)) continue;
      if (ch.members.size === 0) {
        this.channels.delete(name);
        changed = true;
      }
    }
    for (const r of reqs) {
      let ch = this.channels.get(r.channel);
      if (!ch) {
        this.channels.set(r.channel, ch = { pos: void 0, relayed: void 0, live: false, members: /* @__PURE__ */ new Map() });
        changed = true;
      }
      if (ch.members.has(member)) continue;
      const e = { since: r.since, started: false };
      ch.members.set(member, e);
      const pos = ch.pos;
      if (!ch.live || !pos) continue;
      if (r.since && before(r.since, pos)) {
        ch.pos = r.since;
        rewind = true;
        continue;
      }
      this.startMember(member, r.channel, e, { epoch: pos.epoch, offset: pos.offset, recovered: !r.since || r.since.epoch === pos.epoch });
    }
    if (rewind) this.restart();
    else if (changed) this.conn?.sync();
  }
  // restart replaces the connection with one that carries every channel
  // from its position, the rewound ones included. The members stay: to
  // them it is a connection that starts their channels again.
  restart() {
    if (!this.conn) return;
    this.conn = void 0;
    for (const ch of this.channels.values()) ch.live = false;
    this.connector.stop();
    this.connector.start();
  }
  // down: the connection ended. Members end theirs and come back when the
  // next one is up; positions stay, to resume from.
  down(info) {
    this.conn = void 0;
    this.post({
      t: "down",
      leader: this.o.id,
      code: info.code,
      reason: info.reason,
      reconnect: info.reconnect,
      ...info.error ? { errorCode: info.error.code } : {}
    });
    for (const ch of this.channels.values()) ch.members.clear();
    this.channels.clear();
  }
  // start tells one member where its channel starts on the connection: from
  // its own position when it has one.
  startMember(member, channel, e, r) {
    const since = e.since;
    const recovered = r.recovered || since !== void 0 && !before(since, { epoch: r.epoch, offset: r.offset }) && since.epoch === r.epoch;
    e.started = true;
    e.since = void 0;
    this.post({ t: "started", leader: this.o.id, to: member, channel, start: { epoch: r.epoch, offset: r.offset, recovered }, ...since ? { since } : {} });
  }
  startedMembers(ch) {
    const out = [];
    for (const [m, e] of ch.members) if (e.started) out.push(m);
    return out;
  }
  handler() {
    return {
      channels: () => {
        const out = [];
        for (const [channel, ch] of this.channels) {
          let since = ch.pos;
          if (!since) {
            for (const e of ch.members.values()) {
              if (e.since && (!since || before(e.since, since))) since = e.since;
            }
          }
          out.push(since ? { channel, since: { ...since } } : { channel });
        }
        return out;
      },
      started: (channel, r, sent) => {
        const ch = this.channels.get(channel);
        if (!ch) return;
        let behind;
        for (const e of ch.members.values()) {
          const s = e.since;
          if (e.started || !s || s.epoch !== r.epoch) continue;
          if (sent ? before(s, sent) : s.offset < r.offset) behind = behind && before(behind, s) ? behind : s;
        }
        if (behind) {
          ch.pos = behind;
          this.restart();
          return;
        }
        const relayed = ch.relayed;
        ch.pos = sent && r.recovered ? { ...sent } : { epoch: r.epoch, offset: r.offset };
        if (!relayed || relayed.epoch !== ch.pos.epoch || before(relayed, ch.pos)) ch.relayed = ch.pos;
        ch.live = true;
        for (const [m, e] of ch.members) {
          if (e.started) e.since = relayed;
          this.startMember(m, channel, e, r);
        }
      },
      publication: (p) => {
        const ch = this.channels.get(p.channel);
        if (!ch) return;
        const pos = ch.pos;
        if (pos && p.epoch === pos.epoch && p.offset <= pos.offset) return;
        ch.pos = { epoch: p.epoch, offset: p.offset };
        const rel = ch.relayed;
        if (!rel || rel.epoch !== p.epoch || rel.offset < p.offset) ch.relayed = ch.pos;
        const to = this.startedMembers(ch);
        if (to.length) this.post({ t: "pub", leader: this.o.id, to, pub: p });
      },
      gap: (channel, epoch, from) => {
        const ch = this.channels.get(channel);
        if (!ch) return;
        ch.pos = ch.relayed = { epoch, offset: 0 };
        const to = this.startedMembers(ch);
        if (to.length) this.post({ t: "gap", leader: this.o.id, to, channel, epoch, ...from ? { from } : {} });
      },
      refused: (channel, err) => this.end("refused", channel, err.code, err.message),
      ended: (channel, code, reason) => this.end("ended", channel, code, reason),
      presence: (kind, ev) => {
        const ch = this.channels.get(ev.channel);
        if (!ch) return;
        const to = this.startedMembers(ch);
        if (to.length) this.post({ t: "presence", leader: this.o.id, to, kind, ev });
      },
      badCursor: () => {
        const to = /* @__PURE__ */ new Set();
        for (const ch of this.channels.values()) {
          ch.pos = ch.relayed = void 0;
          for (const [m, e] of ch.members) {
            e.since = void 0;
            to.add(m);
          }
        }
        this.post({ t: "forget", leader: this.o.id, to: [...to] });
      },
      error: (err) => this.post({ t: "error", leader: this.o.id, code: err.code, message: err.message }),
      token: () => this.o.token(),
      refreshToken: () => this.o.refreshToken(),
      canRefreshToken: () => this.o.canRefreshToken()
    };
  }
  end(t, channel, code, message) {
    const ch = this.channels.get(channel);
    if (!ch) return;
    this.channels.delete(channel);
    this.post({ t, leader: this.o.id, to: [...ch.members.keys()], channel, code, message });
  }
};

// src/share/member.ts
var MemberConnection = class {
  constructor(link, handler, transport) {
    this.link = link;
    this.handler = handler;
    this.started = false;
    this.signal = new CloseSignal();
    // The position each channel was last asked for with, for its start.
    this.asked = /* @__PURE__ */ new Map();
    this.transport = transport;
    this.unlisten = link.listen((m) => this.receive(m));
  }
  get closed() {
    return this.signal.promise;
  }
  onClosed(listener) {
    this.signal.listen(listener);
  }
  async open() {
    await this.link.alive;
    if (this.signal.isClosed) throw noAnswer("closed while opening");
    await new Promise((resolve, reject) => {
      this.opened = resolve;
      this.signal.listen((info) => reject(info.error ?? noAnswer(info.reason)));
      this.link.post({ t: "hello", from: this.link.id });
    });
  }
  start() {
    if (this.signal.isClosed) return;
    this.started = true;
    this.sync();
  }
  sync() {
    if (!this.started || this.signal.isClosed || !this.leader) return;
    const channels = this.handler.channels();
    this.asked.clear();
    for (const r of channels) this.asked.set(r.channel, r.since);
    this.link.post({ t: "sync", from: this.link.id, to: this.leader, channels });
  }
  close() {
    if (this.signal.isClosed) return;
    if (this.leader) this.link.post({ t: "bye", from: this.link.id, to: this.leader });
    this.end(CLOSED_BY_CLIENT);
  }
  end(info) {
    this.unlisten();
    this.signal.fire(info);
  }
  receive(m) {
    if (this.signal.isClosed) return;
    const me = this.link.id;
    switch (m.t) {
      case "leader":
        if (m.to !== void 0 && m.to !== me) return;
        if (m.to === void 0 && m.leader !== this.leader && this.started) {
          this.leader = m.leader;
          this.sync();
          return;
        }
        this.leader = m.leader;
        if (m.up) this.up(m.transport, m.client);
        return;
      case "up":
        if (m.leader !== this.leader) return;
        this.up(m.transport, m.client);
        return;
      case "down":
        if (m.leader !== this.leader) return;
        this.end({
          code: m.code,
          reason: m.reason,
          reconnect: m.reconnect,
          ...m.errorCode !== void 0 ? { error: new SwitchboardError(m.errorCode, m.reason) } : {}
        });
        return;
      case "hello":
      case "sync":
      case "bye":
        return;
    }
    if (m.leader !== this.leader) return;
    switch (m.t) {
      case "started":
        if (m.to !== me || !this.asked.has(m.channel)) return;
        this.handler.started(m.channel, m.start, m.since);
        return;
      case "pub":
        if (m.to.includes(me)) this.handler.publication(m.pub);
        return;
      case "gap":
        if (m.to.includes(me)) this.handler.gap(m.channel, m.epoch, m.from);
        return;
      case "refused":
        if (!m.to.includes(me)) return;
        this.asked.delete(m.channel);
        this.handler.refused(m.channel, new SwitchboardError(m.code, m.message));
        return;
      case "ended":
        if (!m.to.includes(me)) return;
        this.asked.delete(m.channel);
        this.handler.ended(m.channel, m.code, m.message);
        return;
      case "presence":
        if (m.to.includes(me)) this.handler.presence(m.kind, m.ev);
        return;
      case "forget":
        if (m.to.includes(me)) this.handler.badCursor();
        return;
      case "error":
        this.handler.error(new SwitchboardError(m.code, m.message));
        return;
    }
  }
  up(transport, client) {
    if (transport) this.transport = transport;
    this.client = client;
    const opened = this.opened;
    this.opened = void 0;
    opened?.();
  }
};

// src/share/share.ts
var Share = class {
  constructor(o) {
    this.o = o;
    this.id = tabId();
    this.listeners = /* @__PURE__ */ new Set();
    this.aliveNow = Promise.resolve();
    this.prefix = `switchboard:share:${o.name}:${o.options.endpoints.websocket}`;
  }
  /** Whether this tab holds the connection now. */
  get leading() {
    return this.leader !== void 0;
  }
  /** The connection of the tab's client: through the leader. */
  connection(handler) {
    return new MemberConnection(
      {
        id: this.id,
        alive: this.aliveNow,
        post: (m) => this.bus?.postMessage(m),
        listen: (fn) => {
          this.listeners.add(fn);
          return () => this.listeners.delete(fn);
        }
      },
      handler,
      this.o.options.transports[0]
    );
  }
  start() {
    if (this.abort) return;
    const ac = this.abort = new AbortController();
    const { locks, BroadcastChannel } = this.o.env;
    const bus = this.bus = new BroadcastChannel(this.prefix);
    bus.onmessage = (ev) => {
      const m = ev.data;
      if (m.t === "up") this.o.wake();
      for (const l of [...this.listeners]) l(m);
    };
    this.aliveNow = new Promise((alive) => {
      locks.request(this.tabLock(this.id), { signal: ac.signal }, () => {
        alive();
        return new Promise((release) => this.releaseTab = release);
      }).catch(() => {
      });
    });
    locks.request(this.prefix, { signal: ac.signal }, () => {
      if (ac.signal.aborted) return Promise.resolve();
      return new Promise((release) => {
        this.releaseLeader = release;
        this.lead();
      });
    }).catch(() => {
    });
  }
  stop() {
    const ac = this.abort;
    if (!ac) return;
    this.abort = void 0;
    ac.abort();
    this.leader?.stop();
    this.leader = void 0;
    this.leaderBus?.close();
    this.leaderBus = void 0;
    this.releaseLeader?.();
    this.releaseLeader = void 0;
    this.releaseTab?.();
    this.releaseTab = void 0;
    this.bus?.close();
    this.bus = void 0;
  }
  lead() {
    const lb = this.leaderBus = new this.o.env.BroadcastChannel(this.prefix);
    const o = this.o;
    const leader = this.leader = new Leader({
      id: this.id,
      options: o.options,
      locks: o.env.locks,
      tabLock: (m) => this.tabLock(m),
      post: (m) => lb.postMessage(m),
      create: o.create,
      token: o.token,
      refreshToken: o.refreshToken,
      canRefreshToken: o.canRefreshToken,
      prepare: o.prepare,
      storageKey: `switchboard:transport:${o.options.endpoints.websocket}`
    });
    lb.onmessage = (ev) => leader.receive(ev.data);
    leader.start();
  }
  tabLock(id) {
    return `${this.prefix}:tab:${id}`;
  }
};
function platformShareEnv(o) {
  const g = globalThis;
  const locks = o.locks ?? g.navigator?.locks;
  const BC = o.BroadcastChannel ?? g.BroadcastChannel;
  if (!locks || !BC) return void 0;
  return { locks, BroadcastChannel: BC };
}

// src/transports/sse.ts
var MAX_SETTLES2 = 3;
var SSEConnection = class {
  constructor(ctx) {
    this.ctx = ctx;
    this.transport = "sse";
    this.signal = new CloseSignal();
    // a stream replacing it, while it connects
    this.started = false;
    this.syncQueued = false;
    // Channels a stream of this connection has started: a replacement stream
    // that carries one on from its position is not news to its subscription.
    this.carried = /* @__PURE__ */ new Set();
  }
  get closed() {
    return this.signal.promise;
  }
  onClosed(listener) {
    this.signal.listen(listener);
  }
  // With no channel there is nothing to stream: once the node is known to
  // answer, the connection is open and idle until the first subscription.
  async open() {
    const reqs = this.ctx.handler.channels();
    if (reqs.length === 0) return probe(this.ctx.options, this.ctx.handler.token());
    const s = await this.openStream(reqs, () => this.stream === void 0);
    if (!s) return;
    if (this.signal.isClosed) {
      s.close();
      throw noAnswer("closed while opening");
    }
    this.stream = s;
    this.client = s.connectedData?.client;
  }
  start() {
    if (this.signal.isClosed) return;
    this.started = true;
    if (this.stream) this.activate(this.stream);
    this.sync();
  }
  sync() {
    if (!this.started || this.syncQueued || this.signal.isClosed) return;
    this.syncQueued = true;
    queueMicrotask(() => {
      this.syncQueued = false;
      this.resync();
    });
  }
  close() {
    this.end(CLOSED_BY_CLIENT);
  }
  resync() {
    if (this.signal.isClosed) return;
    const want = this.ctx.handler.channels();
    const have = this.next?.reqs ?? this.stream?.reqs ?? [];
    if (sameChannels(want, have)) return;
    this.next?.close();
    this.next = void 0;
    if (want.length === 0) {
      this.stream?.close();
      this.stream = void 0;
      return;
    }
    let replacement;
    const timer = setTimeout(() => {
      if (replacement === void 0 || this.next === replacement) this.fail("the new stream did not connect in time");
    }, this.ctx.options.openTimeout);
    this.openStream(want, () => replacement === void 0 || this.next === replacement, (s) => this.next = replacement = s).then((s) => {
      clearTimeout(timer);
      if (!s) {
        if (replacement && this.next !== replacement) return;
        this.next = void 0;
        this.sync();
        return;
      }
      if (this.next !== s || this.signal.isClosed) return s.close();
      this.next = void 0;
      this.stream?.close();
      this.stream = s;
      this.activate(s);
      this.sync();
    }).catch((err) => {
      clearTimeout(timer);
      if (replacement && this.next !== replacement) return;
      this.next = void 0;
      const e = err instanceof SwitchboardError ? err : noAnswer(String(err));
      this.end({ code: 0, reason: e.message, reconnect: e.code === ErrorCode.NoAnswer || e.temporary, error: e });
    });
  }
  /**
   * openStream opens a stream for reqs and waits for its connected event. A
   * stream refused before it connects does not say why (EventSource hides
   * the answer), so the same request is put to the poll endpoint as a short
   * poll, whose coded answer tells: a refused channel is dropped, an
   * expired token renewed, a bad cursor forgotten, and the stream tried
   * again; an answer there means SSE itself does not get through. It
   * resolves with undefined when every channel was refused.
   */
  async openStream(reqs, wanted, onCreate) {
    for (let settles = 0; ; settles++) {
      const s = new Stream(this, reqs);
      onCreate?.(s);
      try {
        await s.connected;
        return s;
      } catch {
        s.close();
      }
      if (this.signal.isClosed || !wanted()) throw noAnswer("stream abandoned");
      const err = await this.explain(reqs);
      if (settles >= MAX_SETTLES2) throw err;
      await settleRefusal(this.ctx, err, reqs);
      reqs = this.ctx.handler.channels();
      if (reqs.length === 0) return void 0;
    }
  }
  async explain(reqs) {
    try {
      await askPoll(this.ctx, reqs, this.ctx.handler.token());
    } catch (err) {
      if (err instanceof SwitchboardError && err.code !== ErrorCode.NoAnswer) return err;
    }
    return noAnswer("the SSE stream failed before its connected event");
  }
  /** Makes s the delivering stream: its start positions first, then what it queued. */
  activate(s) {
    const c = s.connectedData;
    if (!c) return;
    this.client = c.client;
    const carried = /* @__PURE__ */ new Set();
    for (const r of s.reqs) {
      const st = c.channels[r.channel];
      if (!st) continue;
      carried.add(r.channel);
      if (this.carried.has(r.channel) && st.recovered && r.since) continue;
      this.ctx.handler.started(r.channel, { epoch: st.epoch, offset: st.offset, recovered: st.recovered }, r.since);
    }
    this.carried = carried;
    s.activate();
  }
  /** @internal Called by the active stream. */
  deliver(s, kind, data) {
    if (this.signal.isClosed || s !== this.stream) return;
    try {
      const v = JSON.parse(data);
      if (kind === "message") this.ctx.handler.publication(parsePublication(v));
      else if (kind === "gap") {
        const f = v;
        if (typeof f.channel !== "string" || typeof f.epoch !== "string") throw new SyntaxError("not a gap");
        this.ctx.handler.gap(f.channel, f.epoch, positionOf(f.from));
      } else if (kind === "join" || kind === "leave") this.ctx.handler.presence(kind, presenceOf(v));
      else if (kind === "disconnect") {
        const d = parseDisconnect(v);
        this.end({ ...d }, new SwitchboardError(d.code, d.reason));
      }
    } catch {
      this.fail("unreadable event");
    }
  }
  /** @internal The active stream failed after it connected. */
  streamFailed(s, reason = "the SSE stream failed") {
    if (s === this.stream) this.fail(reason);
  }
  /**
   * silence is how long a stream may stay quiet before it is taken for
   * dead: the node sends a ping event every ping_interval seconds.
   */
  silence(pingInterval) {
    return Math.max(1, pingInterval ?? 25) * 1e3 + this.ctx.options.pingGrace;
  }
  fail(reason) {
    this.end({ code: 0, reason, reconnect: true }, noAnswer(reason));
  }
  end(info, err) {
    if (this.signal.isClosed) return;
    this.signal.fire(err && !info.error ? { ...info, error: err } : info);
    this.stream?.close();
    this.next?.close();
    this.stream = this.next = void 0;
  }
  /** @internal */
  newEventSource(url) {
    const Ctor = this.ctx.options.EventSource;
    if (!Ctor) throw noAnswer("no EventSource: pass options.EventSource");
    return new Ctor(url, this.ctx.options.withCredentials ? { withCredentials: true } : void 0);
  }
  /** @internal */
  url(reqs) {
    return streamURL(this.ctx.options.endpoints.sse, reqs, this.ctx.handler.token());
  }
};
var Stream = class {
  constructor(conn, reqs) {
    this.conn = conn;
    this.reqs = reqs;
    this.queue = [];
    this.closedFlag = false;
    this.quietFor = 0;
    this.connected = new Promise((resolve, reject) => {
      let es;
      try {
        es = conn.newEventSource(conn.url(reqs));
      } catch (err) {
        reject(err);
        return;
      }
      this.es = es;
      es.addEventListener("connected", (ev) => {
        try {
          this.connectedData = parseConnected(JSON.parse(ev.data));
          this.quietFor = conn.silence(this.connectedData.ping_interval);
          this.alive();
          resolve();
        } catch {
          reject(noAnswer("unreadable connected event"));
        }
      });
      const on = (kind) => (ev) => this.receive(kind, ev.data);
      es.onmessage = on("message");
      es.addEventListener("gap", on("gap"));
      es.addEventListener("join", on("join"));
      es.addEventListener("leave", on("leave"));
      es.addEventListener("disconnect", on("disconnect"));
      es.addEventListener("ping", () => this.alive());
      es.onerror = () => {
        if (this.closedFlag) return;
        if (!this.connectedData) {
          reject(noAnswer("stream failed before its connected event"));
          this.close();
          return;
        }
        this.close();
        conn.streamFailed(this);
      };
    });
  }
  activate() {
    const q = this.queue ?? [];
    this.queue = void 0;
    for (const [kind, data] of q) this.conn.deliver(this, kind, data);
  }
  close() {
    if (this.closedFlag) return;
    this.closedFlag = true;
    clearTimeout(this.watchdog);
    this.es?.close();
  }
  /**
   * alive restarts the watchdog: a stream that carries nothing, not even a
   * ping, for longer than the node's ping interval plus the grace period is
   * dead even if the socket looks open (a proxy that holds it, a laptop
   * that slept), and the client reconnects from its positions.
   */
  alive() {
    if (this.closedFlag || !this.quietFor) return;
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (this.closedFlag) return;
      this.close();
      this.conn.streamFailed(this, `no ping on the SSE stream for ${this.quietFor}ms`);
    }, this.quietFor);
  }
  receive(kind, data) {
    if (this.closedFlag) return;
    this.alive();
    if (this.queue) this.queue.push([kind, data]);
    else this.conn.deliver(this, kind, data);
  }
};

// src/transports/ws.ts
var OPEN = 1;
var WebSocketConnection = class {
  constructor(ctx) {
    this.ctx = ctx;
    this.transport = "websocket";
    this.signal = new CloseSignal();
    this.nextId = 1;
    this.pending = /* @__PURE__ */ new Map();
    this.channels = /* @__PURE__ */ new Map();
    this.started = false;
    this.silence = 0;
  }
  get closed() {
    return this.signal.promise;
  }
  onClosed(listener) {
    this.signal.listen(listener);
  }
  open() {
    const Ctor = this.ctx.options.WebSocket;
    if (!Ctor) return Promise.reject(noAnswer("no WebSocket: pass options.WebSocket"));
    return new Promise((resolve, reject) => {
      this.openSettle = (err) => {
        this.openSettle = void 0;
        if (err) reject(err);
        else resolve();
      };
      let ws;
      try {
        ws = new Ctor(this.ctx.options.endpoints.websocket);
      } catch (err) {
        this.end({ code: 0, reason: String(err), reconnect: true }, noAnswer(`WebSocket: ${String(err)}`));
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        const token = this.ctx.handler.token();
        this.send({ type: "connect", id: this.nextId++, ...token ? { token } : {} });
      };
      ws.onmessage = (ev) => this.receive(ev.data);
      ws.onerror = () => {
      };
      ws.onclose = (ev) => this.socketClosed(ev.code ?? 1006, ev.reason ?? "");
    });
  }
  start() {
    if (this.signal.isClosed) return;
    this.started = true;
    this.sync();
  }
  /** Subscribes what the client has and the node does not, and the reverse. */
  sync() {
    if (!this.started || this.signal.isClosed) return;
    const want = new Map(this.ctx.handler.channels().map((r) => [r.channel, r]));
    for (const [channel, st] of this.channels) {
      if (want.has(channel)) continue;
      clearTimeout(st.retryTimer);
      this.channels.delete(channel);
      this.request({ type: "unsubscribe", channel }, this.ctx.options.requestTimeout).catch(() => {
      });
    }
    for (const [channel] of want) {
      if (!this.channels.has(channel)) {
        this.channels.set(channel, { subscribed: false, retries: 0 });
        this.subscribe(channel);
      }
    }
  }
  close() {
    this.end(CLOSED_BY_CLIENT);
  }
  request(cmd, timeout) {
    if (this.signal.isClosed || !this.ws || this.ws.readyState !== OPEN) {
      return Promise.reject(noAnswer("the WebSocket is not open"));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(noAnswer(`no reply to ${cmd.type} within ${timeout}ms`));
      }, timeout);
      this.pending.set(id, { resolve, reject, timer });
      this.send({ ...cmd, id });
    });
  }
  // subscribe sends one subscribe with the channel's current position. Its
  // reply is handled as it is read, before the frames after it: with a
  // position, the replayed publications follow the reply at once.
  subscribe(channel) {
    const st = this.channels.get(channel);
    if (!st || this.signal.isClosed) return;
    const since = this.ctx.handler.channels().find((r) => r.channel === channel)?.since;
    const id = this.nextId++;
    st.pendingId = id;
    st.since = since;
    const timer = setTimeout(() => {
      this.pending.delete(id);
      this.fail(`no reply to subscribe ${channel}`);
    }, this.ctx.options.requestTimeout);
    this.pending.set(id, {
      timer,
      resolve: (f) => this.subscribed(channel, id, f),
      reject: () => {
      }
    });
    this.send({ type: "subscribe", id, channel, ...since ? { since } : {} });
  }
  subscribed(channel, id, f) {
    const st = this.channels.get(channel);
    if (!st || st.pendingId !== id) return;
    st.pendingId = void 0;
    if (f.error) {
      const err = new SwitchboardError(f.error.code, f.error.message);
      if (err.code === ErrorCode.AlreadySubscribed) {
        return;
      }
      if (err.code === ErrorCode.TokenExpired) {
        this.refreshThen(() => this.subscribe(channel));
        return;
      }
      if (isTemporary(err.code)) {
        const wait = Math.min(this.ctx.options.maxBackoff, this.ctx.options.minBackoff * 2 ** st.retries++);
        st.retryTimer = setTimeout(() => this.subscribe(channel), Math.random() * wait);
        return;
      }
      this.channels.delete(channel);
      this.ctx.handler.refused(channel, err);
      return;
    }
    st.subscribed = true;
    st.retries = 0;
    this.ctx.handler.started(
      channel,
      { epoch: String(f.epoch ?? ""), offset: Number(f.offset ?? 0), recovered: f.recovered !== false },
      st.since
    );
  }
  // scheduleRefresh renews the token a little before it expires, over this
  // connection (the refresh command), so the node never has to end it for
  // an expired token. The expiry is read from the JWT's exp claim; a token
  // without one, a client without getToken, or a token that already looks
  // expired by this clock (the node will say) schedules nothing.
  scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    if (!this.ctx.handler.canRefreshToken?.()) return;
    const exp = tokenExpiry(this.ctx.handler.token());
    if (exp === void 0) return;
    const left = exp - Date.now();
    const delay = left - Math.min(6e4, left / 5);
    if (delay <= 0) return;
    this.refreshTimer = setTimeout(() => {
      this.ctx.handler.refreshToken().then(() => this.request({ type: "refresh", token: this.ctx.handler.token() ?? "" }, this.ctx.options.requestTimeout)).then((f) => {
        if (f.error) throw new SwitchboardError(f.error.code, f.error.message);
        this.scheduleRefresh();
      }).catch((err) => {
        if (err instanceof SwitchboardError && !this.signal.isClosed) this.ctx.handler.error(err);
      });
    }, delay);
  }
  // refreshThen gets a fresh token, hands it to the node, then goes on.
  refreshThen(next) {
    this.ctx.handler.refreshToken().then(() => this.request({ type: "refresh", token: this.ctx.handler.token() ?? "" }, this.ctx.options.requestTimeout)).then((f) => {
      if (f.error) throw new SwitchboardError(f.error.code, f.error.message);
      next();
    }).catch((err) => {
      const e = err instanceof SwitchboardError ? err : noAnswer(String(err));
      this.end({ code: 3005, reason: "token expired", reconnect: e.code !== ErrorCode.Unauthorized, error: e });
    });
  }
  receive(data) {
    if (this.signal.isClosed) return;
    let f;
    try {
      f = parseFrame(typeof data === "string" ? data : new TextDecoder().decode(data));
    } catch {
      this.fail("unreadable frame");
      return;
    }
    this.alive();
    if (f.id !== void 0 && f.id !== 0) {
      this.reply(f);
      return;
    }
    switch (f.type) {
      case "ping":
        this.send({ type: "pong" });
        return;
      case "message":
        if (!this.started) return;
        this.ctx.handler.publication(publicationOf(f));
        return;
      case "gap":
        if (!this.started || typeof f.channel !== "string" || typeof f.epoch !== "string") return;
        this.ctx.handler.gap(f.channel, f.epoch, positionOf(f.from));
        return;
      case "join":
      case "leave":
        if (this.started) this.ctx.handler.presence(f.type, presenceOf(f));
        return;
      case "unsubscribed": {
        const channel = String(f.channel ?? "");
        if (!this.channels.delete(channel)) return;
        this.ctx.handler.ended(channel, Number(f.code ?? 0), String(f.reason ?? ""));
        return;
      }
      case "disconnect": {
        const code = Number(f.code ?? 3e3);
        this.disconnect = { code, reason: String(f.reason ?? ""), reconnect: typeof f.reconnect === "boolean" ? f.reconnect : reconnects(code) };
        return;
      }
      case "error":
        if (f.error) this.ctx.handler.error(new SwitchboardError(f.error.code, f.error.message));
        return;
    }
  }
  reply(f) {
    if (f.type === "connect" && this.openSettle) {
      if (f.error) {
        this.end({ code: 0, reason: f.error.message, reconnect: true }, new SwitchboardError(f.error.code, f.error.message));
        return;
      }
      this.client = typeof f.client === "string" ? f.client : void 0;
      this.silence = Math.max(1, Number(f.ping_interval ?? 25)) * 1e3 + this.ctx.options.pingGrace;
      this.alive();
      this.scheduleRefresh();
      this.openSettle();
      return;
    }
    const p = this.pending.get(f.id);
    if (!p) return;
    this.pending.delete(f.id);
    clearTimeout(p.timer);
    p.resolve(f);
  }
  // alive restarts the watchdog: the node pings every ping_interval, so a
  // connection silent for longer than that plus a grace period is dead even
  // if the socket has not noticed (a sleeping laptop, a NAT that forgot it).
  alive() {
    if (!this.silence) return;
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.fail(`no ping for ${this.silence}ms`), this.silence);
  }
  fail(reason) {
    this.end({ code: 0, reason, reconnect: true }, noAnswer(reason));
  }
  socketClosed(code, reason) {
    const d = this.disconnect;
    if (d) {
      this.end(d, new SwitchboardError(d.code, d.reason));
      return;
    }
    if (code >= 3e3 && code <= 3999) {
      this.end({ code, reason, reconnect: reconnects(code) }, new SwitchboardError(code, reason));
      return;
    }
    this.end({ code, reason: reason || "connection closed", reconnect: true }, noAnswer(`WebSocket closed (${code})`));
  }
  /**
   * end is the one way out: it settles open (rejecting with err), rejects
   * what waits for a reply, closes the socket and resolves closed.
   */
  end(info, err) {
    if (this.signal.isClosed) return;
    const openErr = err ?? noAnswer(info.reason);
    if (this.openSettle) {
      this.openSettle(openErr);
    }
    clearTimeout(this.watchdog);
    clearTimeout(this.refreshTimer);
    for (const st of this.channels.values()) clearTimeout(st.retryTimer);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(noAnswer(`connection closed: ${info.reason}`));
    }
    this.pending.clear();
    const ws = this.ws;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.onerror = () => {
      };
      try {
        ws.close(1e3);
      } catch {
      }
    }
    this.signal.fire(err && !info.error ? { ...info, error: err } : info);
  }
  send(cmd) {
    try {
      this.ws?.send(encodeCommand(cmd));
    } catch (err) {
      this.fail(`send failed: ${String(err)}`);
    }
  }
};
function tokenExpiry(token) {
  const part = token?.split(".")[1];
  if (!part) return void 0;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "=".repeat((4 - b64.length % 4) % 4));
    const claims = JSON.parse(bin);
    const exp = claims?.exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1e3 : void 0;
  } catch {
    return void 0;
  }
}

// src/client.ts
var CHANNEL_NAME = /^[A-Za-z0-9_:.@/=+-]{1,255}$/;
function checkChannel(channel) {
  if (!CHANNEL_NAME.test(channel)) {
    throw new SwitchboardError(ErrorCode.InvalidChannel, `invalid channel name ${JSON.stringify(channel)}: 1 to 255 of [A-Za-z0-9_:.@/=+-]`);
  }
}
var Switchboard = class extends Emitter {
  constructor(url, options = {}) {
    super();
    this.subs = /* @__PURE__ */ new Map();
    // Subscriptions whose starting position is being read: no connection
    // starts them, and no publish of this client goes to their channel, until
    // it is known.
    this.reading = /* @__PURE__ */ new Map();
    this.st = "disconnected";
    this.online = () => this.connector.wake();
    this.url = url;
    this.opts = resolveOptions(url, options);
    this.tokenValue = options.token;
    this.getToken = options.getToken;
    const ctx = { handler: this.handler(), options: this.opts, memory: {} };
    const env = this.opts.share !== void 0 ? platformShareEnv(options) : void 0;
    const share = this.share = env && new Share({
      name: this.opts.share,
      env,
      options: this.opts,
      create: createConnection,
      token: () => this.tokenValue,
      refreshToken: () => this.refreshToken(),
      canRefreshToken: () => this.getToken !== void 0,
      prepare: () => this.firstToken(),
      wake: () => this.connector.wake()
    });
    this.connector = new Connector({
      // Shared: one way to the node, through the leader tab.
      transports: share ? this.opts.transports.slice(0, 1) : this.opts.transports,
      openTimeout: this.opts.openTimeout,
      upgradeInterval: this.opts.upgradeInterval,
      backoff: new Backoff({ min: this.opts.minBackoff, max: this.opts.maxBackoff, stableAfter: this.opts.stableAfter }),
      storage: share ? null : this.opts.storage,
      storageKey: `switchboard:transport:${this.opts.endpoints.websocket}`,
      create: share ? () => share.connection(ctx.handler) : (t) => createConnection(t, ctx),
      prepare: async () => {
        await this.firstToken();
        await Promise.all(this.reading.values());
      },
      refreshToken: () => this.refreshToken(),
      onConnecting: (transport) => {
        this.st = "connecting";
        this.emit("connecting", { transport });
      },
      onConnected: (conn) => {
        this.st = "connected";
        this.emit("connected", { transport: conn.transport, ...conn.client ? { client: conn.client } : {} });
      },
      onLost: (info) => this.lost(info),
      onDisconnected: (info) => this.disconnected(info)
    });
  }
  /** disconnected, connecting or connected. */
  get state() {
    return this.st;
  }
  /** The transport of the open connection, if any. */
  get transport() {
    return this.connector.connection?.transport;
  }
  /** With the share option: whether this tab holds the shared connection now. */
  get leader() {
    return this.share?.leading ?? false;
  }
  /** The node's id for this client, when the transport tells it. */
  get client() {
    return this.connector.connection?.client;
  }
  /** Starts connecting, and keeps connected until disconnect() or the node says not to come back. */
  connect() {
    if (this.connector.running) return;
    this.st = "connecting";
    this.stoppedWith = void 0;
    const g = globalThis;
    g.addEventListener?.("online", this.online);
    this.share?.start();
    this.connector.start();
  }
  /** Closes the connection. Subscriptions and their positions are kept for the next connect(). */
  disconnect() {
    const g = globalThis;
    g.removeEventListener?.("online", this.online);
    this.share?.stop();
    if (!this.connector.running) return;
    const wasConnected = this.connector.connection !== void 0;
    this.connector.stop();
    if (wasConnected || this.st !== "disconnected") this.disconnected({ code: 0, reason: "disconnect() called", reconnect: false });
  }
  /** Resolves once connected; rejects if the client stops for good first. */
  ready() {
    if (this.st === "connected") return Promise.resolve();
    if (this.stoppedWith && !this.connector.running) return Promise.reject(this.stoppedWith);
    return new Promise((resolve, reject) => {
      const offs = [
        this.once("connected", () => {
          offs.forEach((f) => f());
          resolve();
        }),
        this.on("disconnected", (e) => {
          if (e.reconnect) return;
          offs.forEach((f) => f());
          reject(e.error ?? new SwitchboardError(e.code, e.reason));
        })
      ];
    });
  }
  /**
   * Subscribes to a channel. Publications arrive as `message` events of the
   * Subscription, in order, each once; with `since`, those after that
   * position come first. Without `since`, it starts from the channel's
   * position when subscribe() is called, even before connect() or while
   * the connection is not a WebSocket: a publication that follows the call
   * (this client's own publish included) is delivered. Throws for an
   * invalid channel name or a channel already subscribed.
   */
  subscribe(channel, opts = {}) {
    checkChannel(channel);
    if (this.subs.has(channel)) throw new SwitchboardError(ErrorCode.AlreadySubscribed, `already subscribed to ${channel}`);
    const sub = new Subscription(channel, this.owner(), opts.since);
    this.subs.set(channel, sub);
    if (!opts.since && !this.connector.connection?.request) this.readPosition(sub);
    else this.connector.connection?.sync();
    return sub;
  }
  // readPosition reads where the channel is now, for the subscription to
  // start from; when that fails (no history rights, no node), it starts
  // live as a subscription without a position does.
  readPosition(sub) {
    const read = (async () => {
      try {
        await this.firstToken();
        sub.createdAt(await positionOverHTTP(this.opts, sub.channel, () => this.tokenValue, () => this.refreshToken()));
      } catch {
      } finally {
        this.reading.delete(sub);
        this.connector.connection?.sync();
      }
    })();
    this.reading.set(sub, read);
  }
  /** The subscription to a channel, if there is one. */
  getSubscription(channel) {
    return this.subs.get(channel);
  }
  /** Every subscription. */
  subscriptions() {
    return [...this.subs.values()];
  }
  /**
   * Publishes to a channel whose namespace lets clients publish. It goes
   * over the WebSocket when the client is on one, else over HTTP (which
   * works even while no stream is open), with an idempotency key: a retry
   * after a lost answer lands once.
   */
  async publish(channel, data, opts) {
    await this.firstToken();
    const sub = this.subs.get(channel);
    const read = sub && this.reading.get(sub);
    if (read) await read;
    return publish(
      {
        options: this.opts,
        connection: () => this.connector.connection,
        token: () => this.tokenValue,
        refreshToken: () => this.refreshToken()
      },
      channel,
      data,
      opts
    );
  }
  /**
   * Reads a channel's history, where its namespace lets the client. It asks
   * over the WebSocket when the client is on one, and over HTTP otherwise
   * (SSE, polling, or while no stream is open), so it works on every
   * transport.
   */
  async history(channel, opts = {}) {
    checkChannel(channel);
    if (this.st === "connecting" && this.opts.transports[0] === "websocket") {
      await this.connectedWithin(this.opts.openTimeout);
    }
    const conn = this.connector.connection;
    let f;
    if (conn?.request) {
      const r = await conn.request({ type: "history", channel, ...opts }, this.opts.requestTimeout);
      if (r.error) throw new SwitchboardError(r.error.code, r.error.message);
      f = r;
    } else {
      await this.firstToken();
      f = await historyOverHTTP(this.opts, channel, opts, () => this.tokenValue, () => this.refreshToken());
    }
    const pubs = Array.isArray(f.publications) ? f.publications : [];
    return {
      channel,
      epoch: String(f.epoch ?? ""),
      offset: Number(f.offset ?? 0),
      publications: pubs.map(parsePublication)
    };
  }
  /**
   * Lists the clients present in a channel whose namespace has presence on:
   * WebSocket and SSE subscribers, and polling clients that polled it within
   * the node's presence TTL. It asks over the WebSocket when the client is on
   * one, and over HTTP otherwise (which works while no stream is open).
   */
  async presence(channel) {
    checkChannel(channel);
    if (this.st === "connecting" && this.opts.transports[0] === "websocket") {
      await this.connectedWithin(this.opts.openTimeout);
    }
    const conn = this.connector.connection;
    let clients;
    if (conn?.request) {
      const f = await conn.request({ type: "presence", channel }, this.opts.requestTimeout);
      if (f.error) throw new SwitchboardError(f.error.code, f.error.message);
      clients = f.clients;
    } else {
      await this.firstToken();
      clients = await presenceOverHTTP(this.opts, channel, () => this.tokenValue, () => this.refreshToken());
    }
    return Array.isArray(clients) ? clients.filter(isObject).map(clientInfoOf) : [];
  }
  // connectedWithin waits until the client is connected, stops for good, or
  // ms pass, whichever comes first, and leaves no listener behind.
  connectedWithin(ms) {
    if (this.st !== "connecting") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        offConnected();
        offDisconnected();
        resolve();
      };
      const timer = setTimeout(done, ms);
      const offConnected = this.on("connected", done);
      const offDisconnected = this.on("disconnected", (e) => {
        if (!e.reconnect) done();
      });
    });
  }
  // The connection is gone: nothing carries the subscriptions until the
  // next one, and the state says so at once.
  lost(info) {
    for (const s of this.subs.values()) s.suspended();
    this.st = info.reconnect ? "connecting" : "disconnected";
  }
  disconnected(info) {
    for (const s of this.subs.values()) s.suspended();
    this.st = info.reconnect ? "connecting" : "disconnected";
    if (!info.reconnect) this.stoppedWith = info.error ?? new SwitchboardError(info.code, info.reason);
    const e = { code: info.code, reason: info.reason, reconnect: info.reconnect };
    if (info.error) e.error = info.error;
    this.emit("disconnected", e);
  }
  // firstToken gets a token from getToken when the client has none yet, as
  // connecting does, for requests made before (or without) a connection.
  async firstToken() {
    if (this.tokenValue === void 0 && this.getToken) await this.refreshToken();
  }
  // refreshToken asks getToken for a token, once at a time however many
  // parts of the client find the token expired together.
  refreshToken() {
    const get = this.getToken;
    if (!get) return Promise.reject(new SwitchboardError(ErrorCode.TokenExpired, "the token expired and there is no getToken to renew it"));
    this.tokenFlight ?? (this.tokenFlight = (async () => {
      try {
        const t = await get();
        if (typeof t !== "string") throw noAnswer("getToken returned no token");
        this.tokenValue = t;
      } finally {
        this.tokenFlight = void 0;
      }
    })());
    return this.tokenFlight;
  }
  owner() {
    return {
      removeSubscription: (sub) => {
        if (this.subs.get(sub.channel) !== sub) return;
        this.subs.delete(sub.channel);
        this.connector.connection?.sync();
      },
      publish: (channel, data, opts) => this.publish(channel, data, opts)
    };
  }
  // handler is what connections call. Connections never hold subscriptions:
  // they read positions from here and report what the node says.
  handler() {
    return {
      channels: () => {
        const out = [];
        for (const s of this.subs.values()) {
          if (this.reading.has(s)) continue;
          const since = s.position;
          out.push(since ? { channel: s.channel, since } : { channel: s.channel });
        }
        return out;
      },
      started: (channel, start, since) => this.subs.get(channel)?.started(start, since),
      publication: (p) => void this.subs.get(p.channel)?.deliver(p),
      gap: (channel, epoch, from) => this.subs.get(channel)?.epochChanged(epoch, from),
      refused: (channel, err) => this.endSubscription(channel, err, err.code, err.message),
      ended: (channel, code, reason) => this.endSubscription(channel, new SwitchboardError(code, reason), code, reason),
      presence: (kind, ev) => this.subs.get(ev.channel)?.presence(kind, ev),
      badCursor: () => {
        for (const s of this.subs.values()) s.forget();
      },
      error: (err) => this.emit("error", err),
      token: () => this.tokenValue,
      refreshToken: () => this.refreshToken(),
      canRefreshToken: () => this.getToken !== void 0
    };
  }
  // The connection already dropped the channel; the subscription only hears
  // why. It does not sync the connection, which is settling the refusal.
  endSubscription(channel, err, code, reason) {
    const s = this.subs.get(channel);
    if (!s) return;
    this.subs.delete(channel);
    s.ended(err, code, reason);
  }
};
function createConnection(t, ctx) {
  switch (t) {
    case "websocket":
      return new WebSocketConnection(ctx);
    case "sse":
      return new SSEConnection(ctx);
    case "longpoll":
    case "poll":
      return new PollConnection(ctx, t);
  }
}
export {
  Backoff,
  Cursor,
  CursorError,
  DEFAULT_TRANSPORTS,
  DisconnectCode,
  ErrorCode,
  Subscription,
  Switchboard,
  SwitchboardError,
  channelHash
};
