// A lean WebSocket client for the fan-out bench's listeners: the upgrade by hand (no
// permessage-deflate offered) and a frame parser that hands whole messages over as Buffers.
// Node's WebSocket (undici) always offers compression, which wrangler dev's proxy accepts, and
// then each of 1,000 listeners inflated 48 MB/s of audio on the bench's cores: the clients'
// cost, not the Worker's (browsers do that work on their own machines). Only what the bench
// needs: text/binary messages, fragmentation, ping → pong, close.
import { randomBytes } from "node:crypto";
import { request } from "node:http";

/** Opens `url` (ws://) with `headers`; resolves { onMessage(cb), close() } once upgraded. */
export function openRawListener(url, headers) {
  const u = new URL(url.replace(/^ws/, "http"));
  return new Promise((resolve, reject) => {
    const req = request({
      agent: false,
      host: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      headers: { ...headers, connection: "Upgrade", upgrade: "websocket", "sec-websocket-key": randomBytes(16).toString("base64"), "sec-websocket-version": "13" },
    });
    req.on("response", (res) => reject(new Error(`listener socket refused: ${res.statusCode}`)));
    req.on("error", reject);
    req.on("upgrade", (res, socket, head) => {
      if (res.headers["sec-websocket-extensions"]) return reject(new Error(`unexpected extensions: ${res.headers["sec-websocket-extensions"]}`));
      socket.setNoDelay(true);
      let onMessage = null; // messages wait in `buf` until a handler is set
      let buf = head.length ? head : Buffer.alloc(0);
      let parts = [];
      let partsType = 0;
      const send = (opcode, payload = Buffer.alloc(0)) => {
        // Client frames are masked (RFC 6455 §5.3); control frames here are short.
        const mask = randomBytes(4);
        const out = Buffer.alloc(6 + payload.length);
        out[0] = 0x80 | opcode;
        out[1] = 0x80 | payload.length;
        mask.copy(out, 2);
        for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i] ^ mask[i & 3];
        socket.write(out);
      };
      const parse = () => {
        if (!onMessage) return;
        for (;;) {
          if (buf.length < 2) return;
          const fin = (buf[0] & 0x80) !== 0;
          const opcode = buf[0] & 0x0f;
          let len = buf[1] & 0x7f;
          let at = 2;
          if (len === 126) {
            if (buf.length < 4) return;
            len = buf.readUInt16BE(2);
            at = 4;
          } else if (len === 127) {
            if (buf.length < 10) return;
            len = Number(buf.readBigUInt64BE(2));
            at = 10;
          }
          if (buf.length < at + len) return;
          const payload = buf.subarray(at, at + len);
          buf = buf.subarray(at + len);
          if (opcode === 0x9) send(0xa, Buffer.from(payload));
          else if (opcode === 0x8) socket.end();
          else if (opcode === 0x1 || opcode === 0x2 || opcode === 0x0) {
            if (opcode !== 0) partsType = opcode;
            parts.push(payload);
            if (fin) {
              const whole = parts.length === 1 ? parts[0] : Buffer.concat(parts);
              parts = [];
              onMessage(partsType === 0x1 ? "text" : "binary", whole);
            }
          }
        }
      };
      socket.on("data", (chunk) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        parse();
      });
      socket.on("error", () => {});
      resolve({
        onMessage: (cb) => {
          onMessage = cb;
          parse();
        },
        close: () => {
          send(0x8, Buffer.from([0x03, 0xe8]));
          socket.end();
        },
      });
    });
    req.end();
  });
}
