// The cursor: one opaque, URL-safe string that packs the position of every
// channel of a connection. The node writes it as the SSE event id and the
// poll reply's cursor, and reads it back as Last-Event-ID or ?cursor=.
//
// The SDK builds cursors itself from the positions its subscriptions hold,
// which is what lets a client move between WebSocket, SSE and polling without
// losing its place: whichever transport delivered a publication, the next
// stream or poll resumes after it. So this file must encode exactly as the
// node's Go code does (stream/cursor.go), byte for byte:
//
//	base64url, no padding, of
//	0x01 | uvarint n | n × (hash uint64 BE | uvarint len | epoch | uvarint offset) | crc32 BE
//
// with entries sorted by strictly increasing hash. The hash is 64-bit FNV-1a
// of the channel name's bytes and the checksum is CRC-32 (IEEE) of everything
// before it. Hashes and offsets are 64-bit, so they are BigInts here; the
// rest of the SDK speaks in numbers, which are exact up to 2^53.

import type { Position } from "./protocol.js";

/** Limits a cursor must keep; the node refuses one that breaks them. */
export const MAX_CURSOR_LENGTH = 8192;
export const MAX_CURSOR_CHANNELS = 1024;
export const MAX_EPOCH_BYTES = 64;

const VERSION = 1;
const MASK64 = (1n << 64n) - 1n;
const FNV_OFFSET = 14695981039346656037n;
const FNV_PRIME = 1099511628211n;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** A cursor the node would refuse: truncated, altered or malformed. */
export class CursorError extends Error {
  constructor(message: string) {
    super(`bad cursor: ${message}`);
    this.name = "CursorError";
  }
}

/** One channel of a cursor. Only the hash of the channel name is stored. */
export interface CursorEntry {
  hash: bigint;
  epoch: string;
  offset: bigint;
}

/** The key a cursor stores for a channel: 64-bit FNV-1a of its UTF-8 bytes. */
export function channelHash(channel: string): bigint {
  let h = FNV_OFFSET;
  for (const b of utf8.encode(channel)) {
    h ^= BigInt(b);
    h = (h * FNV_PRIME) & MASK64;
  }
  return h;
}

const crcTable = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3), as Go's crc32.ChecksumIEEE. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Cursor holds channel positions keyed by channel hash, in hash order, and
 * converts to and from the node's encoding. It is a plain value: build one,
 * then call toString.
 */
export class Cursor {
  private entries: CursorEntry[] = [];

  /** Builds a cursor from channel positions. */
  static from(positions: Iterable<readonly [string, Position]>): Cursor {
    const c = new Cursor();
    for (const [channel, p] of positions) c.set(channel, p);
    return c;
  }

  /** Decodes a cursor, as strictly as the node does. Throws CursorError. */
  static parse(s: string): Cursor {
    return parseCursor(s);
  }

  get size(): number {
    return this.entries.length;
  }

  /** Records the position of a channel. */
  set(channel: string, p: { epoch: string; offset: number | bigint }): void {
    this.setEntry({ hash: channelHash(channel), epoch: p.epoch, offset: BigInt(p.offset) });
  }

  /** The position recorded for a channel, with a number offset. */
  get(channel: string): Position | undefined {
    const e = this.entry(channel);
    return e && { epoch: e.epoch, offset: Number(e.offset) };
  }

  /** The entry recorded for a channel, with its exact 64-bit offset. */
  entry(channel: string): CursorEntry | undefined {
    const [i, found] = this.find(channelHash(channel));
    return found ? { ...this.entries[i]! } : undefined;
  }

  /** Forgets a channel. */
  delete(channel: string): void {
    const [i, found] = this.find(channelHash(channel));
    if (found) this.entries.splice(i, 1);
  }

  /** The entries in hash order (copies). */
  list(): CursorEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }

  /** Encodes the cursor as the node does. */
  toString(): string {
    const out: number[] = [VERSION];
    putUvarint(out, BigInt(this.entries.length));
    for (const e of this.entries) {
      for (let shift = 56n; shift >= 0n; shift -= 8n) out.push(Number((e.hash >> shift) & 0xffn));
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
  setEntry(e: CursorEntry): void {
    const [i, found] = this.find(e.hash);
    if (found) this.entries[i] = e;
    else this.entries.splice(i, 0, e);
  }

  // Binary search: the index of hash h, or where it would go.
  private find(h: bigint): [number, boolean] {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.hash < h) lo = mid + 1;
      else hi = mid;
    }
    return [lo, lo < this.entries.length && this.entries[lo]!.hash === h];
  }
}

function putUvarint(out: number[], v: bigint): void {
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

// readUvarint reads a varint in its shortest form only, like the node, so a
// cursor has exactly one encoding. It returns [value, bytes read], or
// bytes read <= 0 for a truncated, overlong or non-minimal number.
function readUvarint(b: Uint8Array, at: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (at + i >= b.length) return [0n, 0];
    const byte = b[at + i]!;
    if (i === 9 && byte > 1) return [0n, -1]; // overflows 64 bits
    v |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) {
      // A last byte of zero after others means a longer form than needed.
      if (i > 0 && byte === 0) return [0n, -1];
      return [v, i + 1];
    }
    shift += 7n;
  }
  return [0n, -1];
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const DECODE = (() => {
  const t = new Int16Array(256).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) t[ALPHABET.charCodeAt(i)] = i;
  return t;
})();

function base64url(b: Uint8Array): string {
  let s = "";
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    s += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = b[i]! << 16;
    s += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8);
    s += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]!;
  }
  return s;
}

// unbase64url decodes strictly, as Go's RawURLEncoding.Strict(): no padding,
// and the unused bits of the last character must be zero.
function unbase64url(s: string): Uint8Array | undefined {
  if (s.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const v = DECODE[s.charCodeAt(i) & 0xff]!;
    if (v < 0 || s.charCodeAt(i) > 0xff) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
      acc &= (1 << bits) - 1;
    }
  }
  if (acc !== 0) return undefined;
  return out;
}

function parseCursor(s: string): Cursor {
  if (s.length === 0) throw new CursorError("empty");
  if (s.length > MAX_CURSOR_LENGTH) throw new CursorError(`${s.length} characters, at most ${MAX_CURSOR_LENGTH}`);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || DECODE[c]! < 0) throw new CursorError(`character ${JSON.stringify(s[i])} at ${i} is not URL-safe base64`);
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
  // Each entry takes at least 10 bytes, so n is bounded by the input too.
  if (n > BigInt(Math.floor((body.length - at) / 10))) throw new CursorError("truncated");
  const c = new Cursor();
  let last = -1n;
  for (let i = 0; i < Number(n); i++) {
    if (body.length - at < 8) throw new CursorError("truncated");
    let h = 0n;
    for (let j = 0; j < 8; j++) h = (h << 8n) | BigInt(body[at + j]!);
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
