import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

/**
 * The server end of one WebSocket (RFC 6455) over a raw upgraded socket, for
 * the fake Worker: enough of the protocol to be a faithful peer of Node's
 * WebSocket client (text, binary, fragmentation, ping/pong, close with a code),
 * without a third-party server package.
 */
export type ServerSocket = {
  sendText(text: string): void;
  sendBinary(bytes: Uint8Array): void;
  /** A clean close with a code (the client sees it as the close event's code). */
  close(code: number, reason?: string): void;
  /** Drops the TCP connection without a close frame (the client sees 1006). */
  drop(): void;
  readonly open: boolean;
};

export type SocketHandlers = {
  onText(text: string): void;
  onBinary(bytes: Uint8Array): void;
  onClose(code: number): void;
};

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Answers the upgrade (101) and wires the socket; returns null (after a 400) for a request that is not a WebSocket upgrade. */
export function acceptWebSocket(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  handlers: (ws: ServerSocket) => SocketHandlers,
): ServerSocket | null {
  const key = req.headers["sec-websocket-key"];
  if (typeof key !== "string" || (req.headers.upgrade ?? "").toLowerCase() !== "websocket") {
    socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    return null;
  }
  const accept = createHash("sha1")
    .update(key + GUID)
    .digest("base64");
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);

  let open = true;
  let buffer: Buffer = head.length > 0 ? Buffer.from(head) : Buffer.alloc(0);
  let fragments: Buffer[] = [];
  let fragmentOpcode = 0;
  let closeCode = 1006;

  const writeFrame = (opcode: number, payload: Buffer) => {
    if (!open && opcode !== 0x8) return;
    const length = payload.length;
    const header = length < 126 ? Buffer.alloc(2) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    if (length < 126) header[1] = length;
    else if (length < 65536) {
      header[1] = 126;
      header.writeUInt16BE(length, 2);
    } else {
      header[1] = 127;
      header.writeBigUInt64BE(BigInt(length), 2);
    }
    socket.write(Buffer.concat([header, payload]));
  };

  const ws: ServerSocket = {
    sendText: (text) => writeFrame(0x1, Buffer.from(text, "utf8")),
    sendBinary: (bytes) => writeFrame(0x2, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)),
    close(code, reason = "") {
      if (!open) return;
      const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
      payload.writeUInt16BE(code, 0);
      payload.write(reason, 2);
      writeFrame(0x8, payload);
      open = false;
      closeCode = code;
      socket.end();
    },
    drop() {
      open = false;
      socket.destroy();
    },
    get open() {
      return open;
    },
  };
  const on = handlers(ws);

  const parse = () => {
    while (buffer.length >= 2) {
      const fin = (buffer[0]! & 0x80) !== 0;
      const opcode = buffer[0]! & 0x0f;
      const masked = (buffer[1]! & 0x80) !== 0;
      let length = buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const maskBytes = masked ? 4 : 0;
      if (buffer.length < offset + maskBytes + length) return;
      const mask = masked ? buffer.subarray(offset, offset + 4) : null;
      const payload = Buffer.from(buffer.subarray(offset + maskBytes, offset + maskBytes + length));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
      buffer = buffer.subarray(offset + maskBytes + length);
      if (!masked) {
        // Client frames must be masked (RFC 6455 §5.1).
        ws.close(1002, "unmasked frame");
        return;
      }
      if (opcode === 0x8) {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        if (open) {
          writeFrame(0x8, payload.subarray(0, 2));
          open = false;
          closeCode = code;
          socket.end();
        }
        return;
      }
      if (opcode === 0x9) {
        writeFrame(0xa, payload);
        continue;
      }
      if (opcode === 0xa) continue;
      if (opcode !== 0) fragmentOpcode = opcode;
      fragments.push(payload);
      if (!fin) continue;
      const message = Buffer.concat(fragments);
      fragments = [];
      if (!open) return;
      if (fragmentOpcode === 0x1) on.onText(message.toString("utf8"));
      else if (fragmentOpcode === 0x2) on.onBinary(new Uint8Array(message.buffer, message.byteOffset, message.byteLength));
    }
  };
  socket.on("data", (chunk: Buffer) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    parse();
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    open = false;
    on.onClose(closeCode);
  });
  if (buffer.length) parse();
  return ws;
}
