/**
 * Compile-time checks of the typed latent graph. This file is never run: `tests/tasks_graph_test.ts` runs
 * `deno check` on it and requires success. Each `@ts-expect-error` line must therefore BE a type error
 * (an unused `@ts-expect-error` is itself error TS2578), and every other line must type-check.
 *
 * @module
 */
import type { Tensor } from "@lzn/tensor";
import { type ImageBatch, ImageEncoder, LabelEncoder, type Labels } from "@lzn/encoders";
import { type DecodedImages, LabelDecoder, RfImageDecoder } from "@lzn/decoders";
import { type Embedding, LatentSpace, type Task } from "@lzn/tasks";

const image = new ImageEncoder({ latentDim: 8 });
const label = new LabelEncoder({ classes: 10, latentDim: 8 });
const rf = new RfImageDecoder({ latentDim: 8, classes: 10 });
const space = new LatentSpace(8)
  .register("image", { encoder: image, decoder: rf })
  .register("label", { encoder: label, decoder: new LabelDecoder(label) });
const batch: ImageBatch = { images: new Float32Array(784), count: 1 };
const labels: Labels = Int32Array.from([3]);

// Registered compositions have the types of their parts.
export const classify: Task<ImageBatch, Labels> = space.task({ from: "image", to: "label" });
export const embedImages: Task<ImageBatch, Embedding> = space.task({ from: "image" });
export const labelLatents: Task<Labels, Embedding> = space.task({ from: "label", output: "latents" });
export const roundTrip: Task<Labels, Labels> = space.task({ from: "label", to: "label" });
export const draw: Task<Labels, DecodedImages> = space.task({ from: "label", to: "image" });

// The stages take and give the types of the modality they name.
export const anchors: Tensor = space.anchors("image", batch);
export const z: Tensor = space.latentsOf("image", anchors, { tau: 1, seed: 3 });
export const toLabels: Tensor = space.align(z, "label", labels, { log: true });
export const toImages: Tensor = space.align(space.latents("label", labels), "image", batch);
export const toAnchors: Tensor = space.align(z, "image", { anchors });
export const rfLoss: Tensor = space.decoderLoss("image", anchors, { latents: z, labels, seed: 1 });
export const decoded: Promise<DecodedImages> = space.decode("image", z, { labels, seed: 2 });

// @ts-expect-error: "audio" is not a registered modality
space.task({ from: "audio", to: "label" });
// @ts-expect-error: "text" is not a registered modality
space.task({ from: "image", to: "text" });
// @ts-expect-error: an embedding of an unknown modality
space.task({ from: "audio" });
// @ts-expect-error: the label flow runs over the fixed label anchors: there are no "latents of anchors"
space.latentsOf("label", anchors);
// @ts-expect-error: the label decoder has no training loss of its own
space.decoderLoss("label", anchors, { seed: 0 });
// @ts-expect-error: labels are not the input of the image encoder
space.anchors("image", labels);
// @ts-expect-error: the label decoder takes no RF sampler options
space.decode("label", z, { sampler: { kind: "euler", steps: 4 } });

const onlyDecoders = new LatentSpace(8).register("label", { decoder: new LabelDecoder(label) });
// @ts-expect-error: "label" is registered here with a decoder only, so it cannot be a task's source
onlyDecoders.task({ from: "label", to: "label" });

// The task's input and output types follow the modalities.
// @ts-expect-error: the image->label task takes images, not labels
classify.run(Int32Array.from([1, 2]));
export async function outputIsLabels(b: ImageBatch): Promise<Labels> {
  // @ts-expect-error: the image->label task returns labels, not an embedding
  const wrong: Embedding = await classify.run(b);
  void wrong;
  return await classify.run(b);
}

// Names only known at run time compile, and are checked when the task is built (see the runtime test).
export function fromUserInput(from: string, to: string): Task<unknown, unknown> {
  return space.task({ from, to });
}
