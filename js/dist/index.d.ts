export { Args, MetaError, type ArgBytes, type ArgsInit } from './args.js';
export { Client, type CallOptions, type ClientOptions, type CloseInfo, type PullContext, type PullHandler, type PullResult, type PushContext, type PushHandler, type StreamHandler, type ReconnectOptions, type WebSocketConstructor, type WebSocketLike, } from './client.js';
export { type Codec, type CodecRef, NIL_CODEC, getCodec, jsonCodec, registerCodec, stringCodec } from './codec.js';
export { DEFAULT_SIZE_LIMIT, FrameError, FrameReader, MIN_FRAME_SIZE, PROTO_ID, TYPE_PULL, TYPE_PUSH, TYPE_REPLY, decodeFrame, encodeFrame, type FrameErrorKind, type Packet, } from './frame.js';
export { GzipError, gunzip, gzipFilter } from './gzip.js';
export { Code, META_RERROR_KEY, Rerror } from './rerror.js';
export { META_TIMEOUT_KEY } from './client.js';
export { CODE_CANCELED, DEFAULT_STREAM_WINDOW, Stream } from './stream.js';
export { type XferFilter, type XferRef, getFilter, registerFilter } from './xfer.js';
