// Rerror: the error of a pull, as teleport carries it between peers.
/** The metadata key a reply carries its error under, as JSON. */
export const META_RERROR_KEY = 'X-Reply-Error';
/** Error codes, as teleport numbers them; handlers may use their own. */
export const Code = {
    UnknownError: -1,
    ConnClosed: 102,
    WriteFailed: 104,
    DialFailed: 105,
    BadPacket: 400,
    NotFound: 404,
    PtypeNotAllowed: 405,
    HandleTimeout: 408,
    InternalServerError: 500,
    NotImplemented: 501,
    ServiceUnavailable: 503,
};
/** The messages teleport gives its own codes. */
const messages = {
    [Code.ConnClosed]: 'Connection Closed',
    [Code.WriteFailed]: 'Write Failed',
    [Code.DialFailed]: 'Dial Failed',
    [Code.BadPacket]: 'Bad Packet',
    [Code.NotFound]: 'Not Found',
    [Code.HandleTimeout]: 'Handle Timeout',
    [Code.InternalServerError]: 'Internal Server Error',
    [Code.ServiceUnavailable]: 'Service Unavailable',
};
/**
 * Rerror is how a pull fails: a code, a short message, and a detail saying
 * what went wrong this time. Throw one from a handler to answer a pull
 * with it.
 */
export class Rerror extends Error {
    code;
    detail;
    constructor(code, message, detail = '') {
        super(message ?? messages[code] ?? '');
        this.name = 'Rerror';
        this.code = code;
        this.detail = detail;
    }
    /** toJSON is the form carried in metadata. */
    toJSON() {
        const j = { code: this.code };
        if (this.message)
            j.message = this.message;
        if (this.detail)
            j.detail = this.detail;
        return j;
    }
    /** toString reads "rerror CODE: MESSAGE: DETAIL", as in Go. */
    toString() {
        let s = `rerror ${this.code}`;
        if (this.message)
            s += `: ${this.message}`;
        if (this.detail)
            s += `: ${this.detail}`;
        return s;
    }
    /**
     * fromMeta returns the Rerror a reply carries in its metadata, or
     * undefined. teleport v3.0 escapes only `"` in that JSON, so a detail
     * with a backslash or a control character is not valid JSON: the code,
     * message and detail are then recovered field by field. Metadata from
     * which not even a code can be read is itself a BadPacket error.
     */
    static fromMeta(meta) {
        const raw = meta.get(META_RERROR_KEY);
        if (raw === undefined || raw === '') {
            return undefined;
        }
        try {
            const j = JSON.parse(raw);
            if (typeof j === 'object' && j !== null && typeof j.code === 'number') {
                return new Rerror(j.code, str(j.message), str(j.detail));
            }
        }
        catch {
            // v3.0's not-quite-JSON: below.
        }
        const code = /"code"\s*:\s*(-?\d+)/.exec(raw);
        if (code === null) {
            return new Rerror(Code.BadPacket, 'Bad Packet', `malformed ${META_RERROR_KEY} metadata: ${raw}`);
        }
        return new Rerror(Number(code[1]), field(raw, 'message'), field(raw, 'detail'));
    }
}
function str(v) {
    return typeof v === 'string' ? v : '';
}
/** field reads a string field written with only `"` escaped. */
function field(raw, name) {
    const m = new RegExp(`"${name}"\\s*:\\s*"((?:[^"\\\\]|\\\\.)*)"`, 's').exec(raw);
    return m === null ? '' : m[1].replace(/\\"/g, '"');
}
