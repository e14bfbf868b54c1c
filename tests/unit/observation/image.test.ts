import { describe, expect, it } from "vitest";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { checkImage, decodeCompressed, toRgb8 } from "../../../lib/observation/index.ts";

const img = (encoding: string, w = 4, h = 3, ch = 3, step = w * ch, bytes = step * h) => ({
  width: w,
  height: h,
  encoding,
  step,
  data: new Uint8Array(bytes).map((_, i) => i & 0xff),
});

describe("checkImage", () => {
  for (const [enc, ch] of [
    ["rgb8", 3],
    ["bgr8", 3],
    ["rgba8", 4],
    ["bgra8", 4],
    ["mono8", 1],
  ] as const) {
    it(`accepts ${enc}`, () => {
      const r = checkImage("front", img(enc, 4, 3, ch));
      expect(r.ok).toBe(true);
      if (r.ok) expect(r.value.encoding).toBe(enc);
    });
  }
  it("accepts padded rows (step above width × channels)", () => {
    expect(checkImage("front", img("rgb8", 4, 3, 3, 16)).ok).toBe(true);
  });
  it("rejects an unknown encoding naming the camera and encoding", () => {
    const r = checkImage("wrist", img("yuv422"));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe("E_IMAGE_ENCODING");
      expect(r.error.message).toContain("wrist");
      expect(r.error.message).toContain("yuv422");
    }
  });
  it("rejects a step below one row", () => {
    const r = checkImage("front", img("rgb8", 4, 3, 3, 11, 33));
    expect(!r.ok && r.error.code).toBe("E_IMAGE_SIZE");
    expect(!r.ok && r.error.message).toContain("step 11");
  });
  it("rejects data whose length is not step × height", () => {
    const r = checkImage("front", img("rgb8", 4, 3, 3, 12, 30));
    expect(!r.ok && r.error.code).toBe("E_IMAGE_SIZE");
  });
  it("rejects an empty image", () => {
    const r = checkImage("front", {
      width: 0,
      height: 0,
      encoding: "rgb8",
      step: 0,
      data: new Uint8Array(0),
    });
    expect(!r.ok && r.error.code).toBe("E_IMAGE_EMPTY");
  });
  it("rejects a size other than the expected one", () => {
    const r = checkImage("front", img("rgb8"), { width: 8, height: 3 });
    expect(!r.ok && r.error.code).toBe("E_IMAGE_SIZE");
  });
  it("converts bgr8 and mono8 to rgb8", () => {
    const bgr = {
      width: 1,
      height: 1,
      encoding: "bgr8" as const,
      step: 3,
      data: Uint8Array.of(1, 2, 3),
    };
    expect(Array.from(toRgb8(bgr).data)).toEqual([3, 2, 1]);
    const mono = {
      width: 2,
      height: 1,
      encoding: "mono8" as const,
      step: 2,
      data: Uint8Array.of(7, 9),
    };
    expect(Array.from(toRgb8(mono).data)).toEqual([7, 7, 7, 9, 9, 9]);
  });
});

describe("decodeCompressed", () => {
  const w = 16,
    h = 8;
  const rgba = new Uint8Array(w * h * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 7) & 0xff));
  it("decodes jpeg to rgba8 of the right size", () => {
    const data = jpeg.encode({ data: Buffer.from(rgba), width: w, height: h }, 90).data;
    const r = decodeCompressed("front", { format: "jpeg", data: new Uint8Array(data) });
    expect(r.ok).toBe(true);
    if (r.ok)
      expect([r.value.width, r.value.height, r.value.encoding, r.value.data.length]).toEqual([
        w,
        h,
        "rgba8",
        w * h * 4,
      ]);
  });
  it("decodes png exactly", () => {
    const png = new PNG({ width: w, height: h });
    png.data.set(rgba);
    const data = PNG.sync.write(png);
    const r = decodeCompressed("front", { format: "png", data: new Uint8Array(data) });
    expect(r.ok && Array.from(r.value.data)).toEqual(Array.from(rgba));
  });
  it("rejects data that is neither jpeg nor png", () => {
    const r = decodeCompressed("front", { format: "jpeg", data: Uint8Array.of(1, 2, 3, 4) });
    expect(!r.ok && r.error.code).toBe("E_IMAGE_ENCODING");
    expect(!r.ok && r.error.message).toContain("not jpeg");
  });
  it("rejects an empty compressed image", () => {
    expect(decodeCompressed("front", { format: "png", data: new Uint8Array(0) }).ok).toBe(false);
  });
  it("rejects a truncated png", () => {
    const png = new PNG({ width: w, height: h });
    const data = PNG.sync.write(png).subarray(0, 40);
    const r = decodeCompressed("front", { format: "png", data: new Uint8Array(data) });
    expect(!r.ok && r.error.code).toBe("E_IMAGE_ENCODING");
  });
});
