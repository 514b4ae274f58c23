/**
 * Compile-time checks of the typed latent graph. This file is never run: `tests/tasks_graph_test.ts` runs
 * `deno check` on it and requires success. Each `@ts-expect-error` line must therefore BE a type error
 * (an unused `@ts-expect-error` is itself error TS2578), and every other line must type-check.
 *
 * @module
 */
import { type ImageBatch, ImageEncoder, LabelEncoder, type Labels } from "@lzn/encoders";
import { LabelDecoder } from "@lzn/decoders";
import { type Embedding, LatentSpace, type Task } from "@lzn/tasks";

const image = new ImageEncoder({ latentDim: 8 });
const label = new LabelEncoder({ classes: 10, latentDim: 8 });
const space = new LatentSpace(8)
  .register("image", { encoder: image })
  .register("label", { encoder: label, decoder: new LabelDecoder(label) });

// Registered compositions have the types of their parts.
export const classify: Task<ImageBatch, Labels> = space.task({ from: "image", to: "label" });
export const embedImages: Task<ImageBatch, Embedding> = space.task({ from: "image" });
export const labelLatents: Task<Labels, Embedding> = space.task({ from: "label", output: "latents" });
export const roundTrip: Task<Labels, Labels> = space.task({ from: "label", to: "label" });
export const objective = space.alignment({ from: "image", to: "label" });

// @ts-expect-error: "audio" is not a registered modality
space.task({ from: "audio", to: "label" });
// @ts-expect-error: "text" is not a registered modality
space.task({ from: "image", to: "text" });
// @ts-expect-error: "image" has an encoder but no decoder
space.task({ from: "label", to: "image" });
// @ts-expect-error: an embedding of an unknown modality
space.task({ from: "audio" });
// @ts-expect-error: "image" has no fixed anchor set, so it cannot be an alignment target
space.alignment({ from: "label", to: "image" });

const onlyDecoders = new LatentSpace(8).register("label", { decoder: new LabelDecoder(label) });
// @ts-expect-error: "label" is registered here with a decoder only, so it cannot be a task's source
onlyDecoders.task({ from: "label", to: "label" });

// The task's input and output types follow the modalities.
// @ts-expect-error: the image->label task takes images, not labels
classify.run(Int32Array.from([1, 2]));
export async function outputIsLabels(batch: ImageBatch): Promise<Labels> {
  // @ts-expect-error: the image->label task returns labels, not an embedding
  const wrong: Embedding = await classify.run(batch);
  void wrong;
  return await classify.run(batch);
}

// Names only known at run time compile, and are checked when the task is built (see the runtime test).
export function fromUserInput(from: string, to: string): Task<unknown, unknown> {
  return space.task({ from, to });
}
