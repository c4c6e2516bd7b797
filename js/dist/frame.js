// The fast protocol's frames, byte for byte as teleport v3.0 and teleport's
// Go peers write them (socket/PROTOCOL.md in the repository):
//
//   size uint32 (the whole frame) · proto id 'f' · filter count n ·
//   n filter ids (outer-most first) · payload after the filters
//
// payload: seq uint64 · ptype byte · uri length uint32 · uri ·
//          meta length uint32 · meta · body codec byte · body
//
// All integers are big-endian.
import { Args } from './args.js';
import { concat, fromUtf8, utf8 } from './bytes.js';
import { getFilter } from './xfer.js';
/** The fast protocol's id, 'f'. */
export const PROTO_ID = 0x66;
/** The smallest frame: no filters, empty uri, metadata and body. */
export const MIN_FRAME_SIZE = 24;
/** The default size limit of a frame (and of an inflated payload): 1 GiB. */
export const DEFAULT_SIZE_LIMIT = 1 << 30;
/** Packet types. */
export const TYPE_PULL = 1;
export const TYPE_REPLY = 2;
export const TYPE_PUSH = 3;
/** FrameError reports a frame that cannot be read or written. */
export class FrameError extends Error {
    kind;
    constructor(kind, message) {
        super(message);
        this.name = 'FrameError';
        this.kind = kind;
    }
}
/**
 * encodeFrame returns the frame of p. The filters are applied last listed
 * first, so the first listed is outer-most.
 */
export async function encodeFrame(p, limit = DEFAULT_SIZE_LIMIT) {
    const uri = p.uriBytes ?? utf8(p.uri);
    const meta = p.meta.encode();
    let payload = new Uint8Array(8 + 1 + 4 + uri.length + 4 + meta.length + 1 + p.body.length);
    const v = new DataView(payload.buffer);
    let at = 0;
    v.setBigUint64(at, BigInt.asUintN(64, p.seq));
    at += 8;
    payload[at++] = p.ptype;
    v.setUint32(at, uri.length);
    payload.set(uri, (at += 4));
    at += uri.length;
    v.setUint32(at, meta.length);
    payload.set(meta, (at += 4));
    at += meta.length;
    payload[at++] = p.bodyCodec;
    payload.set(p.body, at);
    for (let i = p.xfer.length - 1; i >= 0; i--) {
        const f = getFilter(p.xfer[i]);
        if (f === undefined) {
            throw new FrameError('xfer', `unknown transfer filter id ${p.xfer[i]}`);
        }
        try {
            payload = await f.onPack(payload);
        }
        catch (err) {
            throw new FrameError('xfer', `filter ${f.name}: ${err.message}`);
        }
    }
    const size = 6 + p.xfer.length + payload.length;
    if (size > limit) {
        throw new FrameError('too-large', `frame of ${size} bytes exceeds the size limit of ${limit}`);
    }
    const frame = new Uint8Array(size);
    new DataView(frame.buffer).setUint32(0, size);
    frame[4] = PROTO_ID;
    frame[5] = p.xfer.length;
    frame.set(p.xfer, 6);
    frame.set(payload, 6 + p.xfer.length);
    return frame;
}
/**
 * decodeFrame reads one whole frame (the size field included). Every
 * length is checked against the bytes present before it is used; the
 * filters are undone first listed first.
 */
export async function decodeFrame(frame, limit = DEFAULT_SIZE_LIMIT) {
    checkHead(frame, limit);
    const size = new DataView(frame.buffer, frame.byteOffset, 4).getUint32(0);
    if (size !== frame.length) {
        throw new FrameError('truncated', `frame declares ${size} bytes, has ${frame.length}`);
    }
    const n = frame[5];
    if (6 + n > frame.length) {
        throw new FrameError('truncated', `${n} filter ids past the end of the frame`);
    }
    const xfer = Array.from(frame.subarray(6, 6 + n));
    let payload = frame.subarray(6 + n);
    for (const id of xfer) {
        const f = getFilter(id);
        if (f === undefined) {
            throw new FrameError('xfer', `unknown transfer filter id ${id}`);
        }
        try {
            payload = await f.onUnpack(payload, limit);
        }
        catch (err) {
            throw new FrameError('xfer', `filter ${f.name}: ${err.message}`);
        }
    }
    return decodePayload(payload, xfer);
}
function decodePayload(b, xfer) {
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    if (b.length < 8 + 1 + 4 + 4 + 1) {
        throw new FrameError('truncated', `payload of ${b.length} bytes is shorter than its fixed fields`);
    }
    let at = 0;
    const seq = v.getBigUint64(at);
    at += 8;
    const ptype = b[at++];
    const uriLen = v.getUint32(at);
    at += 4;
    if (uriLen > b.length - at - 5) {
        throw new FrameError('truncated', `uri length ${uriLen} past the end of the payload`);
    }
    const uriBytes = b.slice(at, at + uriLen);
    at += uriLen;
    const metaLen = v.getUint32(at);
    at += 4;
    if (metaLen > b.length - at - 1) {
        throw new FrameError('truncated', `metadata length ${metaLen} past the end of the payload`);
    }
    let meta;
    try {
        meta = Args.parse(b.subarray(at, at + metaLen));
    }
    catch (err) {
        throw new FrameError('meta', err.message);
    }
    at += metaLen;
    const bodyCodec = b[at++];
    return { seq, ptype, uri: fromUtf8(uriBytes), uriBytes, meta, bodyCodec, body: b.slice(at), xfer };
}
/** checkHead checks what the first bytes of a frame say, as soon as they are there. */
function checkHead(b, limit) {
    if (b.length >= 4) {
        const size = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
        if (size < MIN_FRAME_SIZE) {
            throw new FrameError('too-small', `frame size ${size} is below the minimum of ${MIN_FRAME_SIZE}`);
        }
        if (size > limit) {
            throw new FrameError('too-large', `frame size ${size} exceeds the size limit of ${limit}`);
        }
    }
    if (b.length >= 5 && b[4] !== PROTO_ID) {
        throw new FrameError('proto', `protocol id ${b[4]}, want ${PROTO_ID} ('f')`);
    }
}
/**
 * FrameReader cuts a byte stream, arriving in chunks of any size (the
 * messages of a WebSocket), into whole frames. It holds only the bytes
 * that arrived: a frame's memory is taken once all of it is there, after
 * its declared size was checked against the limit.
 */
export class FrameReader {
    limit;
    #chunks = [];
    #buffered = 0;
    constructor(limit = DEFAULT_SIZE_LIMIT) {
        this.limit = limit;
    }
    /** The number of bytes held, of frames not yet whole. */
    get buffered() {
        return this.#buffered;
    }
    /** push adds a chunk and returns the frames it completed; a bad head throws a FrameError. */
    push(chunk) {
        if (chunk.length > 0) {
            this.#chunks.push(chunk);
            this.#buffered += chunk.length;
        }
        const frames = [];
        for (;;) {
            const head = this.#peek(5);
            checkHead(head, this.limit);
            if (head.length < 4) {
                return frames;
            }
            const size = ((head[0] << 24) | (head[1] << 16) | (head[2] << 8) | head[3]) >>> 0;
            if (this.#buffered < size) {
                return frames;
            }
            frames.push(this.#take(size));
        }
    }
    /** #peek returns up to n bytes from the front without taking them. */
    #peek(n) {
        if (this.#chunks.length > 0 && this.#chunks[0].length >= n) {
            return this.#chunks[0].subarray(0, n);
        }
        const out = [];
        let got = 0;
        for (const c of this.#chunks) {
            if (got >= n)
                break;
            const part = c.subarray(0, n - got);
            out.push(part);
            got += part.length;
        }
        return concat(out, got);
    }
    /** #take removes n bytes, all present, from the front. */
    #take(n) {
        const out = new Uint8Array(n);
        let got = 0;
        while (got < n) {
            const c = this.#chunks[0];
            const part = c.subarray(0, n - got);
            out.set(part, got);
            got += part.length;
            if (part.length === c.length) {
                this.#chunks.shift();
            }
            else {
                this.#chunks[0] = c.subarray(part.length);
            }
        }
        this.#buffered -= n;
        return out;
    }
}
