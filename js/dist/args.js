// Packet metadata: an ordered list of key-value pairs, written as a query
// string exactly as teleport v3.0 writes it.
import { fromUtf8, utf8, equalBytes } from './bytes.js';
/** MetaError reports a malformed percent escape in metadata. */
export class MetaError extends Error {
    constructor(message) {
        super(message);
        this.name = 'MetaError';
    }
}
const HEX = '0123456789ABCDEF';
function toArg(v) {
    return typeof v === 'string' ? utf8(v) : new Uint8Array(v);
}
/**
 * Args is packet metadata: key-value pairs in order, keys may repeat.
 * Keys and values are bytes; the string accessors use UTF-8.
 */
export class Args {
    #pairs = [];
    constructor(init) {
        if (init === undefined) {
            return;
        }
        if (init instanceof Args) {
            for (const [k, v] of init.#pairs) {
                this.#pairs.push([k.slice(), v.slice()]);
            }
        }
        else if (Symbol.iterator in init) {
            for (const [k, v] of init) {
                this.add(k, v);
            }
        }
        else {
            for (const [k, v] of Object.entries(init)) {
                this.add(k, v);
            }
        }
    }
    /** The number of pairs, repeated keys counted each time. */
    get length() {
        return this.#pairs.length;
    }
    #find(key) {
        const k = toArg(key);
        return this.#pairs.findIndex(([pk]) => equalBytes(pk, k));
    }
    /** get returns the first value of key as text, or undefined. */
    get(key) {
        const b = this.getBytes(key);
        return b === undefined ? undefined : fromUtf8(b);
    }
    /** getBytes returns the first value of key as bytes, or undefined. */
    getBytes(key) {
        const i = this.#find(key);
        return i < 0 ? undefined : this.#pairs[i][1];
    }
    /** getAll returns every value of key as text, in order. */
    getAll(key) {
        const k = toArg(key);
        return this.#pairs.filter(([pk]) => equalBytes(pk, k)).map(([, v]) => fromUtf8(v));
    }
    /** has reports whether key is present. */
    has(key) {
        return this.#find(key) >= 0;
    }
    /** add appends a pair, keeping the earlier values of key. */
    add(key, value) {
        this.#pairs.push([toArg(key), toArg(value)]);
        return this;
    }
    /** set replaces every value of key by value, where the first one was. */
    set(key, value) {
        const i = this.#find(key);
        if (i < 0) {
            return this.add(key, value);
        }
        const k = this.#pairs[i][0];
        this.#pairs[i] = [k, toArg(value)];
        this.#pairs = this.#pairs.filter(([pk], j) => j <= i || !equalBytes(pk, k));
        return this;
    }
    /** delete removes every pair of key. */
    delete(key) {
        const k = toArg(key);
        this.#pairs = this.#pairs.filter(([pk]) => !equalBytes(pk, k));
        return this;
    }
    /** entries yields every pair as text, in order. */
    *entries() {
        for (const [k, v] of this.#pairs) {
            yield [fromUtf8(k), fromUtf8(v)];
        }
    }
    /** rawEntries yields every pair as bytes, in order. */
    *rawEntries() {
        for (const [k, v] of this.#pairs) {
            yield [k, v];
        }
    }
    [Symbol.iterator]() {
        return this.entries();
    }
    /**
     * encode returns the wire form, k1=v1&k2=v2, as teleport v3.0 writes it:
     * ASCII letters, digits and `*-._` as they are, every other byte as %XX
     * in upper-case hex (a space is %20), and a pair whose value is empty as
     * its key alone.
     */
    encode() {
        let n = 0;
        for (const [k, v] of this.#pairs) {
            n += 3 * (k.length + v.length) + 2;
        }
        const out = new Uint8Array(n);
        let at = 0;
        const put = (b) => {
            for (const c of b) {
                if (isPlain(c)) {
                    out[at++] = c;
                }
                else {
                    out[at++] = 0x25; // %
                    out[at++] = HEX.charCodeAt(c >> 4);
                    out[at++] = HEX.charCodeAt(c & 15);
                }
            }
        };
        this.#pairs.forEach(([k, v], i) => {
            if (i > 0) {
                out[at++] = 0x26; // &
            }
            put(k);
            if (v.length > 0) {
                out[at++] = 0x3d; // =
                put(v);
            }
        });
        return out.subarray(0, at);
    }
    /** toString returns the wire form as text (it is ASCII). */
    toString() {
        return fromUtf8(this.encode());
    }
    /**
     * parse reads a query string: `+` is a space, %XX a byte (either case),
     * a pair without `=` a key with an empty value; empty pairs are skipped.
     * A malformed escape throws a MetaError.
     */
    static parse(query) {
        const b = toArg(query);
        const a = new Args();
        let start = 0;
        while (start <= b.length) {
            let end = b.indexOf(0x26, start);
            if (end < 0) {
                end = b.length;
            }
            if (end > start) {
                const pair = b.subarray(start, end);
                const eq = pair.indexOf(0x3d);
                const key = eq < 0 ? pair : pair.subarray(0, eq);
                const value = eq < 0 ? new Uint8Array(0) : pair.subarray(eq + 1);
                a.#pairs.push([unescape(key), unescape(value)]);
            }
            start = end + 1;
        }
        return a;
    }
}
function isPlain(c) {
    return ((c >= 0x61 && c <= 0x7a) || // a-z
        (c >= 0x41 && c <= 0x5a) || // A-Z
        (c >= 0x30 && c <= 0x39) || // 0-9
        c === 0x2a || c === 0x2d || c === 0x2e || c === 0x5f // * - . _
    );
}
function unhex(c) {
    if (c >= 0x30 && c <= 0x39)
        return c - 0x30;
    if (c >= 0x41 && c <= 0x46)
        return c - 0x41 + 10;
    if (c >= 0x61 && c <= 0x66)
        return c - 0x61 + 10;
    return -1;
}
function unescape(b) {
    const out = new Uint8Array(b.length);
    let n = 0;
    for (let i = 0; i < b.length; i++) {
        const c = b[i];
        if (c === 0x2b) {
            out[n++] = 0x20; // + is a space
        }
        else if (c === 0x25) {
            const hi = i + 2 < b.length ? unhex(b[i + 1]) : -1;
            const lo = hi < 0 ? -1 : unhex(b[i + 2]);
            if (lo < 0) {
                throw new MetaError(`malformed escape at byte ${i} of metadata "${fromUtf8(b)}"`);
            }
            out[n++] = (hi << 4) | lo;
            i += 2;
        }
        else {
            out[n++] = c;
        }
    }
    return out.slice(0, n);
}
