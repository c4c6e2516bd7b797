// Streams the client opens: messages in order both ways on the session,
// with the byte credit of socket/PROTOCOL.md ("Streams").
import { Args } from './args.js';
import { Code, META_RERROR_KEY, Rerror } from './rerror.js';
/** The packet types of stream frames. */
export const TYPE_STREAM_OPEN = 4;
export const TYPE_STREAM_MSG = 5;
export const TYPE_STREAM_CTRL = 6;
/** A stream's receive window, in the metadata of an open or an accept. */
export const META_STREAM_WINDOW = 'X-Tp-Window';
/** More bytes the other side may send, in the metadata of a credit. */
export const META_STREAM_CREDIT = 'X-Tp-Credit';
/** What a message costs beyond its body: empty messages spend credit too. */
const MSG_COST = 32;
const MAX_WINDOW = 2 ** 30;
/** The code of a stream its opener gave up. */
export const CODE_CANCELED = 499;
/** The default receive window of a stream the client opens: 256 KiB. */
export const DEFAULT_STREAM_WINDOW = 256 * 1024;
/**
 * Stream is a stream the client opened, or one the server opened to a
 * handler of the client (handleStream): send messages with send (it
 * resolves once the other side's credit allowed the message and it was
 * written), read them with `for await (const msg of stream)` or recv, end
 * the sending side with closeSend and the whole stream with close.
 */
export class Stream {
    id;
    uri;
    codec;
    window;
    link;
    onEnd;
    opened;
    /**
     * The other side's metadata: on a stream the client opened, the
     * handler's, once accepted (see accepted); on one the server opened,
     * the open's.
     */
    header = new Args();
    /** On a stream the server opened: the metadata the accept carries (set it before the first send or recv). */
    replyHeader = new Args();
    /** On a stream the server opened: the handler's argument, decoded. */
    args = undefined;
    /** Aborts when the stream ends (the server's deadline or cancel included). */
    signal;
    #abort = new AbortController();
    #acceptSent = false;
    /** Resolves once the server's handler accepted the stream; rejects if it ended first. */
    accepted;
    /** Resolves once the stream has ended, however it ended. */
    ended;
    #endedResolve;
    #acceptedResolve;
    #acceptedReject;
    #queue = [];
    #allowed;
    #consumed = 0;
    #credit = 0;
    #remoteWindow = 0;
    #remoteEnded = false;
    #sendClosed = false;
    #ended = false;
    #err;
    #wakeRecv;
    #wakeSend;
    constructor(id, uri, codec, window, link, onEnd, 
    /** Whether the client opened the stream; false for one the server opened. */
    opened = true, remoteWindow = 0) {
        this.id = id;
        this.uri = uri;
        this.codec = codec;
        this.window = window;
        this.link = link;
        this.onEnd = onEnd;
        this.opened = opened;
        this.#allowed = window;
        this.signal = this.#abort.signal;
        if (!opened) {
            this.#credit = remoteWindow;
            this.#remoteWindow = remoteWindow;
        }
        this.accepted = new Promise((resolve, reject) => {
            this.#acceptedResolve = resolve;
            this.#acceptedReject = reject;
        });
        this.accepted.catch(() => { }); // its rejection is also what recv and send return
        this.ended = new Promise((resolve) => (this.#endedResolve = resolve));
        if (!opened)
            this.#acceptedResolve();
    }
    /** send encodes msg and writes it once the server's credit covers it. */
    /** sendHeader accepts a stream the server opened now, with replyHeader; the first send or recv does it otherwise. */
    sendHeader() {
        if (this.opened || this.#acceptSent || this.#ended)
            return;
        this.#acceptSent = true;
        const meta = new Args();
        for (const [k, v] of this.replyHeader.entries())
            meta.add(k, v);
        meta.set(META_STREAM_WINDOW, String(this.window));
        this.link.write(this.#frame(TYPE_STREAM_CTRL, 'accept', new Uint8Array(0), meta)).catch(() => { });
    }
    async send(msg) {
        this.sendHeader();
        await this.accepted;
        const body = msg instanceof Uint8Array ? msg : this.codec.marshal(msg);
        const need = body.length + MSG_COST;
        const max = Math.floor((this.#remoteWindow * 3) / 4) - MSG_COST;
        if (body.length > max) {
            throw new Rerror(Code.BadPacket, undefined, `stream ${this.uri}: a message of ${body.length} bytes is more than the server's window allows (${max})`);
        }
        for (;;) {
            if (this.#sendClosed)
                throw new Rerror(Code.BadPacket, undefined, `stream ${this.uri}: send after closeSend`);
            if (this.#ended)
                throw this.#err ?? new Rerror(Code.ConnClosed, undefined, `stream ${this.uri}: ended`);
            if (this.#credit >= need)
                break;
            await new Promise((resolve) => (this.#wakeSend = resolve));
        }
        this.#credit -= need;
        await this.link.write(this.#frame(TYPE_STREAM_MSG, '', body));
    }
    /** recv resolves with the next message, or done once the server finished sending; it rejects with the stream's error. */
    async recv() {
        this.sendHeader();
        for (;;) {
            const body = this.#queue.shift();
            if (body !== undefined) {
                this.#consumed += body.length + MSG_COST;
                if (!this.#ended && !this.#remoteEnded && this.#consumed >= this.window / 4) {
                    const grant = this.#consumed;
                    this.#allowed += grant;
                    this.#consumed = 0;
                    const meta = new Args();
                    meta.set(META_STREAM_CREDIT, String(grant));
                    this.link.write(this.#frame(TYPE_STREAM_CTRL, 'credit', new Uint8Array(0), meta)).catch(() => { });
                }
                return { value: (body.length === 0 ? undefined : this.codec.unmarshal(body)), done: false };
            }
            if (this.#remoteEnded || this.#ended) {
                if (this.#err !== undefined)
                    throw this.#err;
                return { value: undefined, done: true };
            }
            await new Promise((resolve) => (this.#wakeRecv = resolve));
        }
    }
    [Symbol.asyncIterator]() {
        return { next: () => this.recv() };
    }
    /** closeSend tells the server no more messages follow. */
    closeSend() {
        if (this.#sendClosed || this.#ended)
            return;
        this.#sendClosed = true;
        this.link.write(this.#frame(TYPE_STREAM_CTRL, 'end', new Uint8Array(0))).catch(() => { });
    }
    /** close ends the stream: cleanly once both sides finished, else with Code 499 (canceled) for the server. */
    close(reason) {
        const clean = !this.opened || (this.#sendClosed && this.#remoteEnded && this.#queue.length === 0);
        this.end(clean && reason === undefined ? undefined : (reason ?? new Rerror(CODE_CANCELED, 'Canceled', `stream ${this.uri}: closed by its opener`)), true);
    }
    /** end ends the stream once, telling the server when tell. */
    end(err, tell) {
        if (this.#ended)
            return;
        this.#ended = true;
        this.#err ??= err;
        if (tell) {
            this.sendHeader(); // a handler refusing before its first call
            const meta = new Args();
            if (err !== undefined)
                meta.set(META_RERROR_KEY, JSON.stringify(err.toJSON()));
            this.link.write(this.#frame(TYPE_STREAM_CTRL, 'close', new Uint8Array(0), meta)).catch(() => { });
        }
        this.#acceptedReject(this.#err ?? new Rerror(Code.ConnClosed, undefined, `stream ${this.uri}: ended before it was accepted`));
        this.#wake();
        this.#abort.abort(this.#err ?? new Rerror(Code.ConnClosed, undefined, `stream ${this.uri}: ended`));
        this.#endedResolve();
        this.onEnd(this);
    }
    /** onFrame handles a message or control frame of the stream from the server. */
    onFrame(p) {
        if (p.ptype === TYPE_STREAM_MSG) {
            if (this.#ended || this.#remoteEnded)
                return;
            const cost = p.body.length + MSG_COST;
            if (cost > this.#allowed) {
                this.end(new Rerror(Code.BadPacket, undefined, `stream ${this.uri}: a message costing ${cost} bytes passed the credit of ${this.#allowed}`), true);
                return;
            }
            this.#allowed -= cost;
            this.#queue.push(p.body);
            this.#wake();
            return;
        }
        switch (p.uri) {
            case 'accept': {
                if (!this.opened) {
                    this.end(new Rerror(Code.BadPacket, undefined, `stream ${this.uri}: accepted by its opener`), true);
                    return;
                }
                const w = windowOf(p.meta.get(META_STREAM_WINDOW));
                if (w === undefined) {
                    this.end(new Rerror(Code.BadPacket, undefined, `stream ${this.uri}: accept without a valid ${META_STREAM_WINDOW}`), true);
                    return;
                }
                for (const [k, v] of p.meta.entries()) {
                    if (k !== META_STREAM_WINDOW)
                        this.header.add(k, v);
                }
                this.#credit = w;
                this.#remoteWindow = w;
                this.#acceptedResolve();
                this.#wake();
                return;
            }
            case 'credit': {
                const n = windowOf(p.meta.get(META_STREAM_CREDIT));
                if (n === undefined || this.#credit + n > MAX_WINDOW) {
                    this.end(new Rerror(Code.BadPacket, undefined, `stream ${this.uri}: a credit that is no number or overflows`), true);
                    return;
                }
                this.#credit += n;
                this.#wake();
                return;
            }
            case 'end':
                this.#remoteEnded = true;
                this.#wake();
                return;
            case 'close': {
                const raw = p.meta.get(META_RERROR_KEY);
                let err;
                if (raw !== undefined) {
                    err = Rerror.fromMeta(p.meta) ?? new Rerror(Code.BadPacket, undefined, `stream ${this.uri}: closed with an unreadable error`);
                }
                else {
                    this.#remoteEnded = true;
                }
                this.end(err, false);
                return;
            }
            default:
                this.end(new Rerror(Code.BadPacket, undefined, `stream ${this.uri}: unknown stream control ${JSON.stringify(p.uri)}`), true);
        }
    }
    #wake() {
        const r = this.#wakeRecv;
        const s = this.#wakeSend;
        this.#wakeRecv = this.#wakeSend = undefined;
        r?.();
        s?.();
    }
    #frame(ptype, uri, body, meta = new Args()) {
        return { seq: this.id, ptype, uri, meta, bodyCodec: this.codec.id, body, xfer: [] };
    }
}
/** windowOf reads a window or credit: a decimal number in 1..2^30. */
export function windowOf(v) {
    if (v === undefined || !/^[0-9]{1,10}$/.test(v))
        return undefined;
    const n = Number(v);
    return n >= 1 && n <= MAX_WINDOW ? n : undefined;
}
