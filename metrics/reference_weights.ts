/**
 * Frozen reference networks as files: the weights of a trained reference classifier with its architecture,
 * dataset and test accuracy in the header. The file's SHA-256 names the feature space, and every FID report
 * carries it, so FID figures are comparable exactly when their hashes are equal — the role fixed Inception
 * weights play elsewhere. The references of MNIST and Fashion-MNIST ship in `metrics/reference/`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { loadSafetensors, loadState, saveSafetensors } from "@lzn/tensor";
import { ReferenceArchitecture, ReferenceClassifier } from "./reference_network.ts";

/** Format tag of a reference file's header. */
const FORMAT = "lzn-reference/1";

/**
 * What a reference file says about its network.
 *
 * @example
 * ```ts
 * import type { ReferenceInfo } from "@lzn/metrics";
 * const info: ReferenceInfo = { dataset: "mnist", testAccuracy: 0.99, testImages: 1000, source: "runs/reference-mnist" };
 * ```
 */
export interface ReferenceInfo {
  /** The dataset it was trained on (its classes and image statistics). */
  dataset: string;
  /** Accuracy on the dataset's test split. */
  testAccuracy: number;
  /** Test images behind that accuracy. */
  testImages: number;
  /** Where it came from (a run directory and step, free text). */
  source: string;
}

/**
 * A loaded reference network with its info and the file's hash.
 *
 * @example
 * ```ts ignore
 * import { loadReference } from "@lzn/metrics";
 * const ref = await loadReference("metrics/reference/fashion-mnist.safetensors");
 * console.log(ref.info.testAccuracy, ref.sha256);
 * ref.net.dispose();
 * ```
 */
export interface LoadedReference {
  /** The network (frozen: its parameters need no gradient). */
  net: ReferenceClassifier;
  /** The header's info. */
  info: ReferenceInfo;
  /** SHA-256 of the file, hex (the identity of the FID feature space). */
  sha256: string;
  /** The file it was read from. */
  path: string;
}

/**
 * Writes a reference network file (weights, architecture and info in the header), atomically.
 *
 * @example
 * ```ts
 * import { loadReference, ReferenceClassifier, saveReference } from "@lzn/metrics";
 * const net = new ReferenceClassifier({ channels: [8, 8], strides: [2, 2], featureDim: 16 });
 * await saveReference("/tmp/ref.safetensors", net, { dataset: "mnist", testAccuracy: 0.1, testImages: 10, source: "example" });
 * const back = await loadReference("/tmp/ref.safetensors");
 * console.log(back.info.dataset); // "mnist"
 * ```
 */
export async function saveReference(
  path: string,
  net: ReferenceClassifier,
  info: ReferenceInfo,
): Promise<void> {
  await saveSafetensors(path, net.stateDict(), {
    format: FORMAT,
    architecture: JSON.stringify(net.arch),
    info: JSON.stringify(info),
  });
}

/**
 * Loads a reference network file; optionally refuses one of another dataset. Errors name the file and what
 * is wrong with it (not a reference file, damaged, another dataset).
 *
 * @example
 * ```ts ignore
 * import { loadReference } from "@lzn/metrics";
 * const ref = await loadReference("metrics/reference/mnist.safetensors", { dataset: "mnist" });
 * ```
 */
export async function loadReference(path: string, opts: { dataset?: string } = {}): Promise<LoadedReference> {
  const bytes = await Deno.readFile(path);
  const { tensors, metadata } = await loadSafetensors(bytes).catch((e) => {
    throw new Error(`reference network ${path}: ${(e as Error).message}`);
  });
  try {
    if (metadata.format !== FORMAT) {
      throw new Error(
        `reference network ${path}: not a reference file (format ${JSON.stringify(metadata.format)})`,
      );
    }
    const info = JSON.parse(metadata.info) as ReferenceInfo;
    if (opts.dataset && info.dataset !== opts.dataset) {
      throw new Error(`reference network ${path} was trained on ${info.dataset}, not ${opts.dataset}`);
    }
    const arch = ReferenceArchitecture.parse(JSON.parse(metadata.architecture));
    const net = new ReferenceClassifier(arch);
    try {
      loadState(net.stateDict(), tensors, { what: `reference network ${path}` });
    } catch (e) {
      net.dispose();
      throw e;
    }
    net.eval().requireGrad(false);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const sha256 = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
    return { net, info, sha256, path };
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}

/**
 * The path of the reference network that ships for a dataset (it may be missing in a development tree
 * before one was trained: `loadReference` then says so).
 *
 * @example
 * ```ts
 * import { shippedReference } from "@lzn/metrics";
 * console.log(shippedReference("fashion-mnist")); // .../metrics/reference/fashion-mnist.safetensors
 * ```
 */
export function shippedReference(dataset: string): string {
  return fileURLToPath(new URL(`./reference/${dataset}.safetensors`, import.meta.url));
}
