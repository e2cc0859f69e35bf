// The page's QR encoder, read back by an independent decoder (jsQR) at many lengths,
// so every version's block layout and the format/version information are checked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { qrMatrix } from "../../static/qr.js";

const jsQR = createRequire(import.meta.url)("jsqr");

function decode(matrix, scale = 3, quiet = 4) {
  const size = (matrix.length + quiet * 2) * scale;
  const rgba = new Uint8ClampedArray(size * size * 4).fill(255);
  matrix.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (!dark) return;
      for (let dy = 0; dy < scale; dy++)
        for (let dx = 0; dx < scale; dx++) {
          const i = (((y + quiet) * scale + dy) * size + (x + quiet) * scale + dx) * 4;
          rgba[i] = rgba[i + 1] = rgba[i + 2] = 0;
        }
    }),
  );
  return jsQR(rgba, size, size, { inversionAttempts: "dontInvert" });
}

test("wa.me links of every realistic length read back exactly", () => {
  const base = "https://wa.me/15550783881?text=";
  for (const extra of [0, 1, 7, 20, 33, 60, 90, 130, 180, 250, 330]) {
    const text = base + "My%20verification%20code%20is%20123456".padEnd(38 + extra, "x");
    const m = qrMatrix(text);
    const result = decode(m);
    assert.ok(result, `no QR found for ${text.length} bytes (size ${m.length})`);
    assert.equal(result.data, text);
  }
});

test("short text gives version 1 and non-ASCII text survives as UTF-8", () => {
  assert.equal(qrMatrix("hello").length, 21);
  const text = "Código de verificación: 123456 ✓";
  assert.equal(decode(qrMatrix(text)).data, text);
});

test("versions 7 and up (with version information) read back", () => {
  for (const len of [140, 200, 400, 700]) {
    const text = "A".repeat(len);
    const m = qrMatrix(text);
    assert.ok(m.length >= 45, `expected version 7+, size ${m.length}`);
    const result = decode(m, 2);
    assert.ok(result, `no QR found for ${len} bytes`);
    assert.equal(result.data, text);
  }
});

test("text beyond version 40 is refused", () => {
  assert.throws(() => qrMatrix("x".repeat(3000)), RangeError);
});
