import type { Position } from "./protocol.js";
/** Limits a cursor must keep; the node refuses one that breaks them. */
export declare const MAX_CURSOR_LENGTH = 8192;
export declare const MAX_CURSOR_CHANNELS = 1024;
export declare const MAX_EPOCH_BYTES = 64;
/** A cursor the node would refuse: truncated, altered or malformed. */
export declare class CursorError extends Error {
    constructor(message: string);
}
/** One channel of a cursor. Only the hash of the channel name is stored. */
export interface CursorEntry {
    hash: bigint;
    epoch: string;
    offset: bigint;
}
/** The key a cursor stores for a channel: 64-bit FNV-1a of its UTF-8 bytes. */
export declare function channelHash(channel: string): bigint;
/** CRC-32 (IEEE 802.3), as Go's crc32.ChecksumIEEE. */
export declare function crc32(bytes: Uint8Array): number;
/**
 * Cursor holds channel positions keyed by channel hash, in hash order, and
 * converts to and from the node's encoding. It is a plain value: build one,
 * then call toString.
 */
export declare class Cursor {
    private entries;
    /** Builds a cursor from channel positions. */
    static from(positions: Iterable<readonly [string, Position]>): Cursor;
    /** Decodes a cursor, as strictly as the node does. Throws CursorError. */
    static parse(s: string): Cursor;
    get size(): number;
    /** Records the position of a channel. */
    set(channel: string, p: {
        epoch: string;
        offset: number | bigint;
    }): void;
    /** The position recorded for a channel, with a number offset. */
    get(channel: string): Position | undefined;
    /** The entry recorded for a channel, with its exact 64-bit offset. */
    entry(channel: string): CursorEntry | undefined;
    /** Forgets a channel. */
    delete(channel: string): void;
    /** The entries in hash order (copies). */
    list(): CursorEntry[];
    /** Encodes the cursor as the node does. */
    toString(): string;
    private find;
}
