import { Args } from './args.js';
/** The fast protocol's id, 'f'. */
export declare const PROTO_ID = 102;
/** The smallest frame: no filters, empty uri, metadata and body. */
export declare const MIN_FRAME_SIZE = 24;
/** The default size limit of a frame (and of an inflated payload): 1 GiB. */
export declare const DEFAULT_SIZE_LIMIT: number;
/** Packet types. */
export declare const TYPE_PULL = 1;
export declare const TYPE_REPLY = 2;
export declare const TYPE_PUSH = 3;
/** Packet is one frame's content. */
export interface Packet {
    seq: bigint;
    ptype: number;
    /** The URI as text (invalid UTF-8 replaced). */
    uri: string;
    /** The URI's exact bytes: set when decoded; when set, encoded instead of uri. */
    uriBytes?: Uint8Array;
    meta: Args;
    /** The body codec id; 0 with an empty body. */
    bodyCodec: number;
    /** The encoded body. */
    body: Uint8Array;
    /** Transfer filter ids, outer-most first. */
    xfer: number[];
}
/** What went wrong with a frame. */
export type FrameErrorKind = 'too-small' | 'too-large' | 'proto' | 'truncated' | 'xfer' | 'meta';
/** FrameError reports a frame that cannot be read or written. */
export declare class FrameError extends Error {
    readonly kind: FrameErrorKind;
    constructor(kind: FrameErrorKind, message: string);
}
/**
 * encodeFrame returns the frame of p. The filters are applied last listed
 * first, so the first listed is outer-most.
 */
export declare function encodeFrame(p: Packet, limit?: number): Promise<Uint8Array>;
/**
 * decodeFrame reads one whole frame (the size field included). Every
 * length is checked against the bytes present before it is used; the
 * filters are undone first listed first.
 */
export declare function decodeFrame(frame: Uint8Array, limit?: number): Promise<Packet>;
/**
 * FrameReader cuts a byte stream, arriving in chunks of any size (the
 * messages of a WebSocket), into whole frames. It holds only the bytes
 * that arrived: a frame's memory is taken once all of it is there, after
 * its declared size was checked against the limit.
 */
export declare class FrameReader {
    #private;
    readonly limit: number;
    constructor(limit?: number);
    /** The number of bytes held, of frames not yet whole. */
    get buffered(): number;
    /** push adds a chunk and returns the frames it completed; a bad head throws a FrameError. */
    push(chunk: Uint8Array): Uint8Array[];
}
