/**
 * Latent computation against an anchor bank: the latent of each row is the forward flow (spec §1.5, §1.7)
 * started in its own zone, over an anchor set made of the bank plus that row's own anchor. No row sees
 * another row's anchor, so a row's latent is the same whether it is computed alone or with any others —
 * inference on one image answers as inside any batch, which the batch-as-anchor-set form of training
 * (`computeLatents`, the minibatch approximation of spec §8) cannot.
 *
 * @module
 */
import { concat, noGrad, randn, slice, type Tensor } from "@lzn/tensor";
import { flow } from "./flow.ts";
import { type ComputeLatentsOptions, forwardSchedule } from "./compute_latents.ts";

/**
 * Latents `[n, q]` of anchors `[n, q]`, each over `bank [M, q]` plus its own anchor. Options as
 * {@link computeLatents} (`noise` `[n, q]`, or drawn from `seed`; row i's noise is row i of that draw).
 * Inference only: no gradient is recorded.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { latentsWithBank } from "@lzn/latent";
 * const bank = tensor([0, 0, 3, 3, -3, 3], [3, 2]);
 * const a = tensor([0.5, 0.2, 2.9, 3.1], [2, 2]);
 * const both = await latentsWithBank(a, bank, { tau: 0 }).toArray();
 * const alone = await latentsWithBank(tensor([2.9, 3.1], [1, 2]), bank, { tau: 0 }).toArray(); // = row 1 of both
 * ```
 */
export function latentsWithBank(anchors: Tensor, bank: Tensor, opts: ComputeLatentsOptions = {}): Tensor {
  if (anchors.ndim !== 2 || bank.ndim !== 2 || bank.shape[1] !== anchors.shape[1]) {
    throw new Error(
      `lzn: latentsWithBank needs anchors [n, q] and a bank [M, q], got [${anchors.shape}] and [${bank.shape}]`,
    );
  }
  const [n, q] = anchors.shape;
  if (n === 0) throw new Error("lzn: latentsWithBank got no anchors");
  const { schedule, eps, tau } = forwardSchedule(opts);
  if (opts.noise && (opts.noise.shape[0] !== n || opts.noise.shape[1] !== q)) {
    throw new Error(`lzn: noise must have the anchors' shape [${anchors.shape}], got [${opts.noise.shape}]`);
  }
  return noGrad(() => {
    const noise = opts.noise ?? randn([n, q], { seed: opts.seed ?? Math.floor(Math.random() * 2 ** 52) });
    const rows: Tensor[] = [];
    for (let i = 0; i < n; i++) {
      const a = slice(anchors, 0, i, i + 1), e = slice(noise, 0, i, i + 1);
      const set = concat([bank, a], 0);
      // x_0 = eps * (tau n) + (1 - eps) * a, in computeLatents' order of float32 roundings.
      const scaled = tau === 1 ? e : e.mul(tau);
      const part1 = scaled.mul(eps), part2 = a.mul(1 - eps);
      const x0 = part1.add(part2);
      rows.push(flow({ anchors: set, x0, schedule }));
      for (const t of [a, set, part1, part2, x0, e]) t.dispose();
      if (scaled !== e) scaled.dispose();
    }
    if (noise !== opts.noise) noise.dispose();
    const out = rows.length === 1 ? rows[0] : concat(rows, 0);
    if (rows.length > 1) { for (const r of rows) r.dispose(); }
    return out;
  });
}
