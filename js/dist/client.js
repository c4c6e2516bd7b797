// The client: one teleport session over a WebSocket, with pulls and pushes
// both ways, reconnecting with backoff.
import { Args } from './args.js';
import { toBytes } from './bytes.js';
import { getCodec, jsonCodec, NIL_CODEC, resolveCodec, stringCodec } from './codec.js';
import { DEFAULT_SIZE_LIMIT, FrameReader, TYPE_PULL, TYPE_PUSH, TYPE_REPLY, decodeFrame, encodeFrame, } from './frame.js';
import { Code, META_RERROR_KEY, Rerror } from './rerror.js';
import { filterIds } from './xfer.js';
import { DEFAULT_STREAM_WINDOW, META_STREAM_WINDOW, Stream, windowOf, TYPE_STREAM_CTRL, TYPE_STREAM_MSG, TYPE_STREAM_OPEN, } from './stream.js';
/** The push a closing Go peer sends before it stops (teleport's goaway). */
const GOAWAY_URI = '/_tp/goaway';
/** The push that tells a peer the caller of a pull (its seq) gave up. */
const CANCEL_URI = '/_tp/cancel';
/** The pull metadata carrying the caller's time left, in microseconds. */
export const META_TIMEOUT_KEY = 'X-Tp-Timeout';
/** The metadata of a peer's first reply on a connection: what it understands. */
const META_CAPS_KEY = 'X-Tp-Caps';
const CAPS_CANCEL = 'cancel';
/** What the client tells the server it understands: cancel notices and streams. */
const CAPS_ALL = 'cancel,stream';
/** The close code of a connection the server sent something unreadable on. */
const CLOSE_BAD_INPUT = 4400;
/**
 * How long a connection must stay open to count as a success, ending the
 * backoff: a server that accepts and at once closes (refusing the session)
 * is retried with growing delays, not hammered.
 */
const STABLE_MS = 1000;
/** One WebSocket connection of the client. */
class Link {
    ws;
    reader;
    open = false;
    openedAt = 0;
    /** A goaway came: no new calls; closes once idle. */
    retired = false;
    closed = false;
    /** Pulls of ours waiting for their reply on this link. */
    inflight = 0;
    /** Pulls of the server's whose reply is not written yet. */
    handling = 0;
    /** The server's replies said it understands cancel notices. */
    remoteCancels = false;
    /** Our first reply told the server we understand them. */
    capsSent = false;
    /** The server's replies said it understands streams. */
    remoteStreams = false;
    /** The streams opened on this link, by id (odd: the client dials). */
    streams = new Map();
    streamCount = 0n;
    /** The handlers of the server's pulls, by seq, to abort on a cancel notice. */
    calls = new Map();
    /** Frames are decoded in order, one after the other. */
    chain = Promise.resolve();
    closedCh;
    markClosed;
    constructor(ws, limit) {
        this.ws = ws;
        this.reader = new FrameReader(limit);
        this.closedCh = new Promise((resolve) => (this.markClosed = resolve));
    }
}
/**
 * Client is a teleport peer over one WebSocket at a time: it pulls and
 * pushes, answers the server's pulls and takes its pushes with the
 * handlers registered for their paths, and reconnects with backoff.
 * It starts connecting at once; calls made meanwhile wait for the
 * connection (within their timeout or signal).
 */
export class Client {
    url;
    #opts;
    #WS;
    #codec;
    #limit;
    #retry;
    #current = null;
    #links = new Set();
    #waiters = [];
    #pending = new Map();
    #seq = 0n;
    #failures = 0;
    #timer;
    #closed = false;
    #pullHandlers = new Map();
    #pushHandlers = new Map();
    #streamHandlers = new Map();
    /**
     * @param url ws:// or wss:// URL of the server's WebSocket handler; in a
     * browser a path ("/tp") means the page's own host.
     */
    constructor(url, options = {}) {
        this.url = absoluteUrl(url);
        this.#opts = options;
        const WS = options.WebSocket ?? globalThis.WebSocket;
        if (WS === undefined) {
            throw new Error('teleport: no WebSocket implementation: pass options.WebSocket (Node.js before 22: the ws package)');
        }
        this.#WS = WS;
        this.#codec = resolveCodec(options.codec ?? jsonCodec);
        this.#limit = options.sizeLimit ?? DEFAULT_SIZE_LIMIT;
        const r = options.reconnect ?? true;
        this.#retry =
            r === false
                ? null
                : {
                    retries: (r === true ? undefined : r.retries) ?? Infinity,
                    minDelay: (r === true ? undefined : r.minDelay) ?? 50,
                    maxDelay: (r === true ? undefined : r.maxDelay) ?? 5000,
                };
        this.#connect(true);
    }
    /** Whether a connection is open and takes new calls. */
    get isOpen() {
        return this.#current?.open === true && !this.#current.retired;
    }
    /** Whether close was called, or reconnecting gave up. */
    get isClosed() {
        return this.#closed;
    }
    /** ready resolves once a connection is open (rejects once the client is closed). */
    async ready(options = {}) {
        await this.#withDeadline(options, 'connect', (signal) => this.#link(signal));
    }
    /** handlePull answers the server's pulls of path (a URI without query) with handler. */
    handlePull(path, handler) {
        this.#pullHandlers.set(path, handler);
        return this;
    }
    /** handleStream takes the streams the server opens to path with handler. */
    handleStream(path, handler) {
        this.#streamHandlers.set(path, handler);
        return this;
    }
    /** handlePush takes the server's pushes of path with handler. */
    handlePush(path, handler) {
        this.#pushHandlers.set(path, handler);
        return this;
    }
    /**
     * pull sends args to uri and resolves with the reply, or rejects with a
     * Rerror: the handler's own, Code.NotFound, Code.HandleTimeout (timeout
     * or signal), Code.ConnClosed (the connection closed first),
     * Code.WriteFailed, Code.BadPacket (a reply that cannot be decoded).
     * Uint8Array args go with the string codec, undefined as an empty body.
     */
    pull(uri, args, options = {}) {
        return this.#withDeadline(options, `pull ${uri}`, (signal, deadline) => this.#pull(uri, args, options, signal, deadline));
    }
    /**
     * push sends args to uri and resolves once it is written; it rejects
     * with a Rerror (Code.ConnClosed, Code.WriteFailed, or Code.HandleTimeout
     * when its timeout or signal ends the wait for a connection).
     */
    push(uri, args, options = {}) {
        return this.#withDeadline(options, `push ${uri}`, async (signal) => {
            const codec = this.#bodyCodec(args, options.codec);
            const p = this.#packet(TYPE_PUSH, uri, args, codec, options);
            const link = await this.#link(signal);
            p.seq = this.#nextSeq();
            await this.#send(link, p);
        });
    }
    /**
     * openStream opens a stream to uri, a route of the Go server's
     * StreamRouter, with args as its handler's argument, and resolves once
     * it is written (see Stream). Its messages use args' codec (or
     * options.codec; the client's default without args). options.signal
     * and options.timeout bound the whole stream (the timeout travels to
     * the handler, as a pull's); options.window is the stream's receive
     * window in bytes (256 KiB). It rejects with Code.NotImplemented when
     * the server does not understand streams.
     */
    openStream(uri, args, options = {}) {
        return this.#withDeadline({ signal: options.signal }, `stream ${uri}`, async (signal) => {
            const codec = this.#bodyCodec(args, options.codec) ?? this.#codec;
            const p = this.#packet(TYPE_STREAM_OPEN, uri, args, args === undefined ? null : codec, options);
            p.bodyCodec = codec.id;
            let link = await this.#link(signal);
            if (!link.remoteCancels) {
                // The server's first reply tells what it understands: ask for it.
                await this.pull('/_tp/probe', undefined, { signal }).catch(() => { });
                link = await this.#link(signal);
            }
            if (!link.remoteStreams) {
                throw new Rerror(Code.NotImplemented, undefined, `stream ${uri}: the server does not understand streams`);
            }
            const window = Math.min(Math.max(options.window ?? DEFAULT_STREAM_WINDOW, 128), 2 ** 30);
            link.streamCount++;
            const id = 2n * link.streamCount - 1n;
            const st = new Stream(id, uri, codec, window, { write: (q) => this.#send(link, q) }, (s) => {
                link.streams.delete(s.id);
                this.#closeIfIdle(link);
            });
            link.streams.set(id, st);
            p.seq = id;
            p.meta.set(META_STREAM_WINDOW, String(window));
            const timeout = options.timeout ?? 0;
            if (timeout > 0) {
                p.meta.set(META_TIMEOUT_KEY, String(Math.floor(timeout * 1000)));
                const timer = setTimeout(() => st.close(new Rerror(Code.HandleTimeout, undefined, `stream ${uri}: ${timeout} ms passed`)), timeout);
                const clear = () => clearTimeout(timer);
                void st.ended.then(clear);
            }
            const outer = options.signal;
            if (outer !== undefined) {
                const onAbort = () => st.close(abortRerror(outer, `stream ${uri}`));
                outer.addEventListener('abort', onAbort, { once: true });
                void st.ended.then(() => outer.removeEventListener('abort', onAbort));
            }
            try {
                await this.#send(link, p);
            }
            catch (err) {
                st.end(err, false);
                throw err;
            }
            return st;
        });
    }
    /**
     * close closes the connection and stops reconnecting; waiting pulls end
     * with Code.ConnClosed. It resolves once every connection has closed.
     */
    async close() {
        if (!this.#closed) {
            this.#closed = true;
            clearTimeout(this.#timer);
            this.#failAll(new Rerror(Code.ConnClosed, undefined, 'client closed'));
            for (const link of this.#links) {
                closeLink(link, 1000, 'client closed');
            }
        }
        await Promise.all(Array.from(this.#links, (l) => l.closedCh));
    }
    // --- calls ---
    async #pull(uri, args, options, signal, deadline) {
        const codec = this.#bodyCodec(args, options.codec);
        const p = this.#packet(TYPE_PULL, uri, args, codec, options);
        const link = await this.#link(signal);
        const seq = this.#nextSeq();
        p.seq = seq;
        if (deadline > 0) {
            // The time left, so that the server's handler can stop in time.
            const left = Math.floor((deadline - Date.now()) * 1000);
            if (left > 0)
                p.meta.set(META_TIMEOUT_KEY, String(left));
        }
        return new Promise((resolve, reject) => {
            let done = false;
            const finish = (err, result) => {
                if (done)
                    return;
                done = true;
                signal.removeEventListener('abort', onAbort);
                this.#pending.delete(seq);
                link.inflight--;
                this.#closeIfIdle(link);
                if (err !== null)
                    reject(err);
                else
                    resolve(result);
            };
            const onAbort = () => {
                finish(abortRerror(signal, `pull ${uri}`));
                this.#sendCancel(link, seq);
            };
            signal.addEventListener('abort', onAbort);
            this.#pending.set(seq, { link, uri, codec: codec ?? this.#codec, finish });
            link.inflight++;
            if (signal.aborted) {
                onAbort(); // between the connection and the listener
                return;
            }
            this.#send(link, p).catch((err) => finish(err));
        });
    }
    /** #packet builds an outgoing pull or push (the seq is set when it is sent). */
    #packet(ptype, uri, args, codec, options) {
        let body = new Uint8Array(0);
        if (codec !== null) {
            try {
                body = codec.marshal(args);
            }
            catch (err) {
                throw new Rerror(Code.WriteFailed, undefined, `${uri}: ${codec.name} codec: ${err.message}`);
            }
        }
        let xfer;
        try {
            xfer = filterIds(options.xfer ?? []);
        }
        catch (err) {
            throw new Rerror(Code.WriteFailed, undefined, `${uri}: ${err.message}`);
        }
        return {
            seq: 0n,
            ptype,
            uri,
            meta: new Args(options.meta),
            bodyCodec: codec?.id ?? NIL_CODEC,
            body,
            xfer,
        };
    }
    /** #bodyCodec picks the codec of an outgoing body: bytes as strings, none for undefined. */
    #bodyCodec(args, ref) {
        if (ref !== undefined) {
            try {
                return resolveCodec(ref);
            }
            catch (err) {
                throw new Rerror(Code.WriteFailed, undefined, err.message);
            }
        }
        if (args === undefined)
            return null;
        if (args instanceof Uint8Array)
            return stringCodec;
        return this.#codec;
    }
    #nextSeq() {
        this.#seq = BigInt.asUintN(64, this.#seq + 1n);
        return this.#seq;
    }
    /** #send writes p on link as one binary message. */
    async #send(link, p) {
        let frame;
        try {
            frame = await encodeFrame(p, this.#limit);
        }
        catch (err) {
            throw new Rerror(Code.WriteFailed, undefined, `${p.uri}: ${err.message}`);
        }
        if (link.closed || link.ws.readyState !== 1) {
            throw new Rerror(Code.ConnClosed, undefined, `${p.uri}: the connection closed`);
        }
        try {
            link.ws.send(frame);
        }
        catch (err) {
            throw new Rerror(Code.WriteFailed, undefined, `${p.uri}: ${err.message}`);
        }
    }
    /** #sendCancel tells the server the pull seq was given up, if it understands. */
    #sendCancel(link, seq) {
        if (!link.remoteCancels || link.closed)
            return;
        const p = { seq, ptype: TYPE_PUSH, uri: CANCEL_URI, meta: new Args(), bodyCodec: NIL_CODEC, body: new Uint8Array(0), xfer: [] };
        this.#send(link, p).catch(() => { }); // the pull has ended either way
    }
    /**
     * #withDeadline runs call with a signal that ends at options.signal,
     * options.timeout (or the default timeout), or never; a call ended so
     * rejects with Code.HandleTimeout.
     */
    async #withDeadline(options, what, call) {
        const ctl = new AbortController();
        const timeout = options.timeout ?? this.#opts.timeout ?? 0;
        const deadline = timeout > 0 ? Date.now() + timeout : 0;
        let timer;
        if (timeout > 0) {
            timer = setTimeout(() => ctl.abort(new Rerror(Code.HandleTimeout, undefined, `${what}: no answer within ${timeout} ms`)), timeout);
        }
        const outer = options.signal;
        const onOuter = () => ctl.abort(outer.reason);
        if (outer !== undefined) {
            if (outer.aborted)
                onOuter();
            else
                outer.addEventListener('abort', onOuter);
        }
        try {
            if (ctl.signal.aborted) {
                throw abortRerror(ctl.signal, what);
            }
            return await call(ctl.signal, deadline);
        }
        finally {
            clearTimeout(timer);
            outer?.removeEventListener('abort', onOuter);
        }
    }
    // --- connections ---
    /** #link returns the open connection, waiting for one if need be. */
    #link(signal) {
        if (this.#closed) {
            return Promise.reject(new Rerror(Code.ConnClosed, undefined, 'client closed'));
        }
        const cur = this.#current;
        if (cur !== null && cur.open && !cur.retired) {
            return Promise.resolve(cur);
        }
        return new Promise((resolve, reject) => {
            const w = {
                resolve: (l) => {
                    signal.removeEventListener('abort', onAbort);
                    resolve(l);
                },
                reject: (e) => {
                    signal.removeEventListener('abort', onAbort);
                    reject(e);
                },
            };
            const onAbort = () => {
                this.#waiters = this.#waiters.filter((x) => x !== w);
                reject(abortRerror(signal, 'waiting for the connection'));
            };
            signal.addEventListener('abort', onAbort);
            this.#waiters.push(w);
        });
    }
    /** #connect opens a new connection; first: from the constructor, which throws what the WebSocket constructor throws (a bad URL). */
    #connect(first = false) {
        let ws;
        try {
            ws = new this.#WS(this.url);
        }
        catch (err) {
            if (first)
                throw err;
            this.#lost(null, 1006, err.message);
            return;
        }
        ws.binaryType = 'arraybuffer';
        const link = new Link(ws, this.#limit);
        this.#current = link;
        this.#links.add(link);
        ws.onopen = () => {
            link.open = true;
            link.openedAt = Date.now();
            if (this.#closed) {
                closeLink(link, 1000, 'client closed');
                return;
            }
            if (this.#current !== link)
                return;
            const waiters = this.#waiters;
            this.#waiters = [];
            for (const w of waiters)
                w.resolve(link);
            this.#opts.onOpen?.();
        };
        ws.onmessage = (ev) => this.#onMessage(link, ev.data);
        ws.onclose = (ev) => {
            if (link.open && Date.now() - link.openedAt >= STABLE_MS) {
                this.#failures = 0;
            }
            link.closed = true;
            link.open = false;
            for (const ctl of link.calls.values()) {
                ctl.abort(new Rerror(Code.ConnClosed, undefined, 'the connection closed'));
            }
            this.#links.delete(link);
            link.markClosed();
            this.#lost(link, ev.code, ev.reason);
        };
        ws.onerror = () => { }; // a close event follows
    }
    /** #lost handles the end of link (null: a connection that could not even start). */
    #lost(link, code, reason) {
        const detail = `connection closed (${code}${reason ? ' ' + reason : ''})`;
        for (const st of Array.from(link?.streams.values() ?? [])) {
            st.end(new Rerror(Code.ConnClosed, undefined, `stream ${st.uri}: ${detail}`), false);
        }
        for (const p of Array.from(this.#pending.values())) {
            if (p.link === link) {
                p.finish(new Rerror(Code.ConnClosed, undefined, `${p.uri}: ${detail}`));
            }
        }
        if (link !== null && this.#current !== link) {
            return; // a retired connection, or the client is closed
        }
        this.#current = null;
        if (this.#closed) {
            return;
        }
        const retry = this.#retry;
        const reconnecting = retry !== null && this.#failures < retry.retries;
        this.#opts.onClose?.({ code, reason, reconnecting });
        if (!reconnecting) {
            // Pulls in flight on a connection retired by a goaway end there.
            this.#closed = true;
            this.#failWaiters(new Rerror(Code.ConnClosed, undefined, detail));
            return;
        }
        const delay = Math.min(retry.minDelay * 2 ** this.#failures, retry.maxDelay);
        this.#failures++;
        this.#timer = setTimeout(() => this.#connect(), delay);
    }
    /** #failWaiters rejects the calls waiting for a connection. */
    #failWaiters(err) {
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const w of waiters)
            w.reject(err);
    }
    /** #failAll rejects every waiting call. */
    #failAll(err) {
        this.#failWaiters(err);
        for (const p of Array.from(this.#pending.values())) {
            p.finish(new Rerror(err.code, err.message, `${p.uri}: ${err.detail}`));
        }
    }
    /** #onGoaway: the server is closing; move new calls to a new connection. */
    #onGoaway(link) {
        if (link.retired)
            return;
        link.retired = true;
        if (this.#current === link && !this.#closed) {
            this.#current = null;
            if (this.#retry !== null) {
                this.#connect();
            }
            else {
                // No new calls; the pulls in flight end on the old connection.
                this.#closed = true;
                this.#failWaiters(new Rerror(Code.ConnClosed, undefined, 'the server is closing'));
            }
        }
        this.#closeIfIdle(link);
    }
    /** #closeIfIdle closes a retired link once nothing is in flight on it. */
    #closeIfIdle(link) {
        if (link.retired && link.inflight === 0 && link.handling === 0 && link.streams.size === 0) {
            closeLink(link, 1000, 'goaway');
        }
    }
    // --- reading ---
    #onMessage(link, data) {
        if (link.closed)
            return;
        if (typeof data === 'string') {
            this.#badInput(link, new Error('a text message'));
            return;
        }
        const bytes = toBytes(data);
        if (bytes === undefined) {
            this.#badInput(link, new Error(`a message of unsupported data ${Object.prototype.toString.call(data)}`));
            return;
        }
        let frames;
        try {
            frames = link.reader.push(bytes);
        }
        catch (err) {
            this.#badInput(link, err);
            return;
        }
        for (const f of frames) {
            link.chain = link.chain.then(async () => {
                if (link.closed)
                    return;
                let p;
                try {
                    p = await decodeFrame(f, this.#limit);
                }
                catch (err) {
                    this.#badInput(link, err);
                    return;
                }
                this.#dispatch(link, p);
            });
        }
    }
    #badInput(link, err) {
        this.#report(new Error(`teleport: closing the connection to ${this.url}: ${err.message}`));
        closeLink(link, CLOSE_BAD_INPUT, 'bad frame');
    }
    #report(err) {
        this.#opts.onError?.(err);
    }
    #dispatch(link, p) {
        switch (p.ptype) {
            case TYPE_REPLY:
                this.#onReply(link, p);
                break;
            case TYPE_PULL:
                link.handling++;
                void this.#onPull(link, p).finally(() => {
                    link.handling--;
                    this.#closeIfIdle(link);
                });
                break;
            case TYPE_STREAM_OPEN:
            case TYPE_STREAM_MSG:
            case TYPE_STREAM_CTRL:
                this.#onStreamFrame(link, p);
                break;
            case TYPE_PUSH:
                if (p.uri === GOAWAY_URI) {
                    this.#onGoaway(link);
                }
                else if (p.uri === CANCEL_URI) {
                    link.calls.get(p.seq)?.abort(new Rerror(Code.HandleTimeout, undefined, `the caller cancelled its pull (seq ${p.seq})`));
                }
                else {
                    void this.#onPush(link, p);
                }
                break;
            default:
                this.#report(new Error(`teleport: dropped a packet of unknown type ${p.ptype} (uri ${p.uri})`));
        }
    }
    #onStreamFrame(link, p) {
        if (p.ptype === TYPE_STREAM_OPEN) {
            this.#onStreamOpen(link, p);
            return;
        }
        const st = link.streams.get(p.seq);
        if (st !== undefined) {
            st.onFrame(p);
            return;
        }
        // A frame for no stream: refused, unless it ends a stream itself.
        if (p.ptype === TYPE_STREAM_CTRL && (p.uri === 'close' || p.uri === 'accept'))
            return;
        this.#refuseStream(link, p.seq, new Rerror(Code.BadPacket, undefined, `no stream ${p.seq} on this connection`));
    }
    /** #onStreamOpen runs the handler of a stream the server opened, or refuses it. */
    #onStreamOpen(link, p) {
        const window = windowOf(p.meta.get(META_STREAM_WINDOW));
        const handler = this.#streamHandlers.get(pathOf(p.uri));
        let why;
        if (p.seq % 2n !== 0n)
            why = new Rerror(Code.BadPacket, undefined, `stream id ${p.seq} is not one the server may use`);
        else if (link.streams.has(p.seq))
            why = new Rerror(Code.BadPacket, undefined, `stream ${p.seq} is already open`);
        else if (handler === undefined)
            why = new Rerror(Code.NotFound, undefined, `no stream handler for ${p.uri}`);
        else if (window === undefined)
            why = new Rerror(Code.BadPacket, undefined, `stream open without a valid ${META_STREAM_WINDOW}`);
        if (why !== undefined) {
            this.#refuseStream(link, p.seq, why);
            return;
        }
        const codec = getCodec(p.bodyCodec) ?? this.#codec;
        const st = new Stream(p.seq, p.uri, codec, DEFAULT_STREAM_WINDOW, { write: (q) => this.#send(link, q) }, (s) => {
            link.streams.delete(s.id);
        }, false, window);
        for (const [k, v] of p.meta.entries()) {
            if (k !== META_STREAM_WINDOW && k !== META_TIMEOUT_KEY)
                st.header.add(k, v);
        }
        try {
            st.args = decodeBody(p, codec);
        }
        catch (err) {
            this.#refuseStream(link, p.seq, err);
            return;
        }
        link.streams.set(p.seq, st);
        const left = timeoutOf(p.meta);
        const timer = left === undefined ? undefined : setTimeout(() => st.end(new Rerror(Code.HandleTimeout, undefined, `${p.uri}: the opener's deadline passed`), true), left);
        link.handling++;
        void (async () => {
            try {
                await handler(st);
                st.close();
            }
            catch (err) {
                st.close(err instanceof Rerror ? err : new Rerror(Code.InternalServerError, undefined, `${p.uri}: ${err?.message ?? String(err)}`));
            }
            finally {
                clearTimeout(timer);
                link.handling--;
                this.#closeIfIdle(link);
            }
        })();
    }
    #refuseStream(link, seq, why) {
        const meta = new Args();
        meta.set(META_RERROR_KEY, JSON.stringify(why.toJSON()));
        this.#send(link, { seq, ptype: TYPE_STREAM_CTRL, uri: 'close', meta, bodyCodec: NIL_CODEC, body: new Uint8Array(0), xfer: [] }).catch(() => { });
    }
    #onReply(link, p) {
        if (!link.remoteCancels) {
            const caps = (p.meta.get(META_CAPS_KEY) ?? '').split(',');
            if (caps.includes(CAPS_CANCEL)) {
                link.remoteCancels = true;
                link.remoteStreams = caps.includes('stream');
            }
        }
        const call = this.#pending.get(p.seq);
        if (call === undefined || call.link !== link) {
            return; // late: its pull timed out
        }
        const rerr = Rerror.fromMeta(p.meta);
        if (rerr !== undefined) {
            call.finish(rerr);
            return;
        }
        let reply;
        try {
            reply = decodeBody(p, call.codec.id === p.bodyCodec ? call.codec : undefined);
        }
        catch (err) {
            call.finish(err);
            return;
        }
        call.finish(null, { reply, meta: p.meta, codec: p.bodyCodec, body: p.body });
    }
    async #onPull(link, p) {
        const ctx = this.#context(p);
        const replyMeta = new Args();
        Object.defineProperty(ctx, 'replyMeta', { value: replyMeta });
        ctx.replyCodec = p.bodyCodec === NIL_CODEC ? this.#codec : p.bodyCodec;
        ctx.replyXfer = [];
        const out = { seq: p.seq, ptype: TYPE_REPLY, uri: p.uri, uriBytes: p.uriBytes, meta: replyMeta, bodyCodec: 0, body: new Uint8Array(0), xfer: [] };
        const ctl = new AbortController();
        Object.defineProperty(ctx, 'signal', { value: ctl.signal });
        link.calls.set(p.seq, ctl);
        const left = timeoutOf(p.meta);
        const timer = left === undefined
            ? undefined
            : setTimeout(() => ctl.abort(new Rerror(Code.HandleTimeout, undefined, `${p.uri}: the caller's deadline passed`)), left);
        try {
            const handler = this.#pullHandlers.get(ctx.path);
            if (handler === undefined) {
                throw new Rerror(Code.NotFound, undefined, `no pull handler for ${p.uri}`);
            }
            const result = await handler(ctx);
            const codec = resolveCodec(ctx.replyCodec);
            out.bodyCodec = codec.id;
            out.body = result === undefined ? new Uint8Array(0) : codec.marshal(result);
            out.xfer = filterIds(ctx.replyXfer);
        }
        catch (err) {
            const rerr = err instanceof Rerror ? err : new Rerror(Code.InternalServerError, undefined, `${ctx.path}: ${err?.message ?? String(err)}`);
            replyMeta.set(META_RERROR_KEY, JSON.stringify(rerr.toJSON()));
            out.body = new Uint8Array(0);
            out.xfer = [];
        }
        finally {
            clearTimeout(timer);
            link.calls.delete(p.seq);
        }
        if (!link.capsSent) {
            // The first reply on a connection says we understand cancel notices.
            link.capsSent = true;
            replyMeta.set(META_CAPS_KEY, CAPS_ALL);
        }
        if (out.bodyCodec === NIL_CODEC) {
            // An error reply keeps the codec the reply would have had.
            out.bodyCodec = typeof ctx.replyCodec === 'object' ? ctx.replyCodec.id : (getCodec(ctx.replyCodec)?.id ?? NIL_CODEC);
        }
        try {
            await this.#send(link, out);
        }
        catch (err) {
            this.#report(new Error(`teleport: reply to ${p.uri}: ${err.message}`));
        }
    }
    async #onPush(_link, p) {
        const handler = this.#pushHandlers.get(pathOf(p.uri));
        if (handler === undefined) {
            return; // as teleport does: an unknown push is dropped
        }
        try {
            await handler(this.#context(p));
        }
        catch (err) {
            this.#report(new Error(`teleport: push handler of ${p.uri}: ${err?.message ?? String(err)}`));
        }
    }
    #context(p) {
        const q = p.uri.indexOf('?');
        let args;
        return {
            client: this,
            seq: p.seq,
            uri: p.uri,
            path: pathOf(p.uri),
            query: new URLSearchParams(q < 0 ? '' : p.uri.slice(q + 1)),
            meta: p.meta,
            codec: p.bodyCodec,
            body: p.body,
            get args() {
                args ??= { value: decodeBody(p, undefined) };
                return args.value;
            },
            bind: (codec) => decodeBody(p, resolveCodec(codec)),
        };
    }
}
/** decodeBody decodes p's body with codec, or with the codec registered for its id. */
function decodeBody(p, codec) {
    if (p.body.length === 0) {
        return undefined;
    }
    const c = codec ?? getCodec(p.bodyCodec);
    if (c === undefined) {
        throw new Rerror(Code.BadPacket, undefined, `${p.uri}: unknown body codec ${p.bodyCodec}`);
    }
    try {
        return c.unmarshal(p.body);
    }
    catch (err) {
        throw new Rerror(Code.BadPacket, undefined, `${p.uri}: ${c.name} codec: ${err.message}`);
    }
}
/** timeoutOf reads X-Tp-Timeout: the caller's time left in ms, or undefined when absent or malformed. */
function timeoutOf(meta) {
    const v = meta.get(META_TIMEOUT_KEY);
    if (v === undefined || !/^[0-9]{1,18}$/.test(v)) {
        return undefined;
    }
    return Math.min(Number(v) / 1000, 2 ** 31 - 1); // setTimeout's longest wait
}
function pathOf(uri) {
    const q = uri.indexOf('?');
    return q < 0 ? uri : uri.slice(0, q);
}
function abortRerror(signal, what) {
    const r = signal.reason;
    if (r instanceof Rerror)
        return r;
    const why = r instanceof Error ? r.message : r === undefined ? 'aborted' : String(r);
    return new Rerror(Code.HandleTimeout, undefined, `${what}: ${why}`);
}
function closeLink(link, code, reason) {
    if (link.closed)
        return;
    try {
        link.ws.close(code, reason);
    }
    catch {
        link.ws.close();
    }
}
/** absoluteUrl turns a path into a ws:// or wss:// URL of the page's host. */
function absoluteUrl(url) {
    const loc = globalThis.location;
    if (url.startsWith('/') && loc !== undefined) {
        return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}${url}`;
    }
    return url;
}
