// Byte helpers shared by the frame codec, metadata and codecs.
const encoder = new TextEncoder();
const decoder = new TextDecoder(); // replaces invalid UTF-8, never throws
/** utf8 encodes s as UTF-8. */
export function utf8(s) {
    return encoder.encode(s);
}
/** fromUtf8 decodes b as UTF-8, replacing invalid sequences with U+FFFD. */
export function fromUtf8(b) {
    return decoder.decode(b);
}
/** concat joins chunks whose lengths add up to total into one array. */
export function concat(chunks, total) {
    const n = total ?? chunks.reduce((s, c) => s + c.length, 0);
    if (chunks.length === 1 && chunks[0].length === n) {
        return chunks[0];
    }
    const out = new Uint8Array(n);
    let at = 0;
    for (const c of chunks) {
        out.set(c, at);
        at += c.length;
    }
    return out;
}
/** equalBytes reports whether a and b hold the same bytes. */
export function equalBytes(a, b) {
    if (a.length !== b.length) {
        return false;
    }
    for (let i = 0; i < a.length; i++) {
        if (a[i] !== b[i]) {
            return false;
        }
    }
    return true;
}
/**
 * toBytes views the data of a binary WebSocket message as bytes, or
 * returns undefined for anything else (a Blob, say).
 */
export function toBytes(data) {
    if (data instanceof Uint8Array) {
        return data;
    }
    if (ArrayBuffer.isView(data)) {
        return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    }
    if (data instanceof ArrayBuffer) {
        return new Uint8Array(data);
    }
    return undefined;
}
