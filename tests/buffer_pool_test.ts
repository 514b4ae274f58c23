/**
 * The buffer pool and the recorder around it: the adapter's storage-binding limit (`maxStorageBufferBindingSize`,
 * 128 MiB on lavapipe) — a kernel that would bind more fails at once with a one-line error, instead of WebGPU's
 * uncaptured validation error and a kernel that runs on nothing (an eval batch of 2000 Fashion-MNIST images once
 * gave accuracy 0.10 that way), size classes are capped there, and the image and ResNet encoders' inference encodes
 * such batches in chunks; an upload into a buffer that recorded work still reads is copied in recording order; and
 * any other uncaptured WebGPU error fails the next readback instead of passing on what was computed after it.
 */
import { strict as assert } from "node:assert";
import { bufferPool, freeCachedMemory, gpu, noGrad, scope, Tensor, tensor } from "@lzn/tensor";
import { sizeClass } from "../tensor/pool.ts";
import { ImageEncoder, ResNetEncoder } from "@lzn/encoders";

const limit = () => gpu().device.limits.maxStorageBufferBindingSize;

Deno.test("a kernel binding a buffer over the adapter's limit fails with a clear error", () => {
  const floats = limit() / 4 + 1024;
  if (floats * 4 > gpu().device.limits.maxBufferSize) return; // this adapter cannot even allocate it
  const live = bufferPool.live;
  const big = Tensor.empty([floats]);
  try {
    assert.throws(() => scope(() => big.add(1)), (e: Error) => {
      assert.match(
        e.message,
        /^lzn: kernel \S+ needs a storage buffer of \d+ MiB, over this adapter's binding limit/,
      );
      assert.match(e.message, /maxStorageBufferBindingSize/);
      return true;
    });
  } finally {
    big.dispose();
  }
  assert.equal(bufferPool.live, live, "nothing leaked");
});

Deno.test("a tensor that fits the binding limit gets a bindable buffer, whatever its size class", () => {
  assert.equal(sizeClass(2e9), 2 ** 31);
  assert.equal(sizeClass(2e9, 2 ** 31 - 4), 2 ** 31 - 4, "capped at a limit that is not a size class");
  assert.equal(sizeClass(2 ** 31 - 4, 2 ** 31 - 4), 2 ** 31 - 4);
  assert.equal(
    sizeClass(2 ** 31, 2 ** 31 - 4),
    2 ** 31,
    "a count past the limit keeps its class (and fails to bind)",
  );
  assert.equal(sizeClass(1000, 2 ** 27), 1024);
  const t = Tensor.empty([Math.floor(limit() / 4)]);
  try {
    assert.ok(t.buffer.size <= limit(), `${t.buffer.size} <= ${limit()}`);
    scope(() => t.mul(0)).dispose(); // binds
  } finally {
    t.dispose();
  }
});

/** Anchors of `chunk + 3` images (two chunks) against those of single images: the same up to rounding. */
async function assertChunkedAnchors(enc: ImageEncoder | ResNetEncoder, size: number, chunk: number) {
  const per = size * size, count = chunk + 3;
  const images = new Float32Array(count * per).map((_, i) => Math.sin(i * 0.011) * 0.9);
  try {
    const whole = await noGrad(() => enc.anchors({ images, count })).toArray();
    for (const i of [0, chunk - 1, chunk, count - 1]) {
      const one = await noGrad(() =>
        enc.anchors({ images: images.subarray(i * per, (i + 1) * per), count: 1 })
      )
        .toArray();
      for (let j = 0; j < 8; j++) {
        assert.ok(Math.abs(whole[i * 8 + j] - one[j]) <= 1e-5 * (1 + Math.abs(one[j])), `image ${i}, ${j}`);
      }
    }
  } finally {
    enc.dispose();
  }
}

Deno.test("image encoder inference: a batch over one binding is encoded in chunks, the same anchors", async () => {
  // 512 channels at 32 x 32 after the stride: 2 MiB of activations per image, so the chunk is limit / 2 MiB.
  const enc = new ImageEncoder({
    latentDim: 8,
    imageSize: 64,
    channels: [512],
    strides: [2],
    groups: 8,
    headChannels: 2,
    headHidden: 8,
    seed: 3,
  });
  await assertChunkedAnchors(enc, 64, Math.floor(limit() / (4 * 512 * 32 * 32)));
});

Deno.test("ResNet encoder inference: chunked the same way (its largest activation is the stem's)", async () => {
  // The stem's 16 channels at 256 x 256 (4 MiB per image) outweigh the stage after its stride (16 at 128 x 128).
  const enc = new ResNetEncoder({
    latentDim: 8,
    imageSize: 256,
    channels: [16],
    blocks: [1],
    strides: [2],
    groups: 8,
    headHidden: 8,
    seed: 3,
  });
  await assertChunkedAnchors(enc, 256, Math.floor(limit() / (4 * 16 * 256 * 256)));
});

Deno.test("an upload into a buffer that recorded work still reads goes through a staged copy, in order", async () => {
  // A size class of its own, so the freed buffer is the pool's next choice.
  const n = 300_001;
  const a = tensor(new Float32Array(n).fill(1), [n]);
  const doubled = a.mul(2); // recorded, not submitted: reads a's buffer
  const buffer = a.buffer;
  a.dispose();
  const b = tensor(new Float32Array(n).fill(7), [n]); // the same buffer, written while the read is pending
  try {
    assert.equal(b.buffer, buffer, "the upload got the freed buffer (the case under test)");
    assert.equal((await doubled.toArray())[n - 1], 2, "the recorded read saw the old data");
    assert.equal((await b.toArray())[0], 7);
  } finally {
    doubled.dispose();
    b.dispose();
  }
});

Deno.test("an uncaptured WebGPU error fails the next readback in one line, once", async () => {
  const { device } = gpu();
  // A validation error that no error scope catches: WebGPU reports it as an event and hands back an invalid buffer.
  const invalid = device.createBuffer({
    size: device.limits.maxBufferSize + 1024,
    usage: GPUBufferUsage.STORAGE,
  });
  await new Promise((r) => setTimeout(r, 0)); // let the error event be delivered
  const t = tensor([1, 2], [2]);
  try {
    await assert.rejects(
      t.toArray(),
      /^Error: lzn: the GPU reported an error, so results computed since are not trustworthy: .*maximum buffer size/,
    );
    assert.deepEqual([...await t.toArray()], [1, 2], "reported once: the next readback works");
  } finally {
    t.dispose();
    invalid.destroy();
  }
});

Deno.test("freeCachedMemory gives the pool's free buffers back, and the next op allocates anew and is right", async () => {
  const live = bufferPool.live;
  const x = tensor([1, 2, 3, 4], [4]);
  const y = scope(() => x.mul(3).add(1));
  x.dispose();
  assert.deepEqual(Array.from(await y.toArray()), [4, 7, 10, 13]);
  y.dispose();
  assert.ok(bufferPool.cachedBytes > 0, "released buffers are kept for reuse");
  const cached = bufferPool.cachedBytes;
  const freed = freeCachedMemory();
  assert.ok(freed >= cached, `freed ${freed} >= the pool's ${cached} (plus staging)`);
  assert.equal(bufferPool.cachedBytes, 0);
  assert.equal(bufferPool.live, live, "live tensors untouched");
  // The bind-group cache was cleared with the buffers: an op on new buffers must bind them, not stale ones.
  const z = scope(() => tensor([5, 6], [2]).mul(2));
  assert.deepEqual(Array.from(await z.toArray()), [10, 12]);
  z.dispose();
  assert.equal(bufferPool.live, live);
});
