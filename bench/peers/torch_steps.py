#!/usr/bin/env python3
"""PyTorch peer of one training step of lzn's `classification` recipe (issue 10, item 3), as configured by
tasks/recipes/fashion-classification.json: batch 512, q = 32, fp32 (TF32 off); with `--recipe joint`, of the
`generation` recipe's joint step as configured by tasks/recipes/fashion-joint.json (batch 256).

Usage:  python3 bench/peers/torch_steps.py OUT.json [--recipe classifier|joint] [--steps N] [--batch B]
        [--modes eager,compile,graphs] [--device cuda|cpu] [--check] [--against REF.json]

The joint step adds to the classifier's: latents at tau = 1; the no-log alignment (loss = -mean max p); the RF
decoder of torch_rf.py conditioned on [latent, one-hot class] and its RF loss, summed with the alignment; a third
Adam group (decoder, lr 2e-3); the schedule's 3000 steps. Its parameter counts are checked against lzn's for that
config at start (encoder 2,374,176, decoder 1,498,529); `--against` checks only the classifier's pieces.

The step, ported from the TypeScript sources (not from the release):
  * encoder (encoders/image_encoder.ts, latent_head.ts): four levels Conv3x3(pad 1, stride s, bias) ->
    GroupNorm(8, eps 1e-5, affine) -> SiLU with channels 32, 64, 64, 128 and strides 1, 2, 2, 1; at every level a
    head Conv1x1(C -> 8) -> SiLU -> flatten -> Linear(8 r^2, 256) -> SiLU -> Linear(256, 32); the anchor is the
    sum of the four heads (PyTorch's default init, as lzn's);
  * latents: DPM-Solver++(3M), 20 steps on t = linspace(1e-3, 0.999, 21), x0 = eps tau n + (1 - eps) a with
    tau = 0.25 and fresh n ~ N(0, I), the batch's anchors as the anchor set, D = softmax(alpha x.A^T +
    beta |A|^2) A (spec 1.7; matmul form), gradients through all steps;
  * alignment (spec 4): reverse Euler over the 10 label anchors, 100 steps from t = 1, class weights = the
    batch's label frequencies (log w in the logits), the paired probability before each step, max over the
    steps after the first 20, loss = -mean log max;
  * Adam (0.9, 0.999, eps 1e-8; lr 2e-3 encoder, 1e-2 label anchors) with the warm-up-times-cosine factor,
    global gradient-norm clipping to 1, EMA of every parameter with decay min(0.999, (1+n)/(10+n)).
Not ported: the shift augmentation and the data pipeline (batches are pre-made on the device; lzn's figure
includes its data pipeline), and the non-finite-step skip (a data-dependent branch; lzn's costs one flag).

Modes: eager; `torch.compile` of the loss (forward and AOT backward); the same with mode="reduce-overhead"
(CUDA graphs). Optimizer: Adam(foreach) in eager, Adam(fused=True) otherwise; EMA by torch._foreach_lerp_.
Reported: steps/s over --steps timed steps after warm-up (compilation excluded), synchronised at both ends.
--check runs a few eager steps on a synthetic separable batch and reports the loss going down; --against
compares the port's latents and alignment loss (float64) with lzn's on the input of `bench/step_reference.ts`.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_rf import RfUNet, rf_loss

Q, CLASSES, EPS_DPM, TAU = 32, 10, 1e-3, 0.25


def arg(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


class Encoder(nn.Module):
    def __init__(self, channels=(32, 64, 64, 128), strides=(1, 2, 2, 1), size=28):
        super().__init__()
        self.convs, self.norms, self.heads = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        cin, r = 1, size
        for c, s in zip(channels, strides):
            r = (r - 1) // s + 1
            self.convs.append(nn.Conv2d(cin, c, 3, stride=s, padding=1))
            self.norms.append(nn.GroupNorm(8, c, eps=1e-5))
            self.heads.append(nn.Sequential(nn.Conv2d(c, 8, 1), nn.SiLU(), nn.Flatten(), nn.Linear(8 * r * r, 256),
                                            nn.SiLU(), nn.Linear(256, Q)))
            cin = c

    def forward(self, x):
        out = 0
        for conv, norm, head in zip(self.convs, self.norms, self.heads):
            x = F.silu(norm(conv(x)))
            out = out + head(x)
        return out


def dpm_schedule(steps=20, eps=EPS_DPM):
    """Per step (alpha, beta, a, b0, b1, b2) in float64, as latent/schedule.ts dpmForward."""
    ts = [eps + k * (1 - 2 * eps) / steps for k in range(steps + 1)]
    lam = [math.log((1 - t) / t) for t in ts]
    out = []
    for k in range(steps):
        order = min(k + 1, 3)
        s0, t = k, k + 1
        h = lam[t] - lam[s0]
        alpha_t, sigma_t, sigma_s = 1 - ts[t], ts[t], ts[s0]
        phi1 = math.expm1(-h)

        def update(x, d0, d1, d2):
            if order == 1:
                return sigma_t / sigma_s * x - alpha_t * phi1 * d0
            r0 = (lam[s0] - lam[s0 - 1]) / h
            if order == 2:
                return sigma_t / sigma_s * x - alpha_t * phi1 * d0 - 0.5 * alpha_t * phi1 * (d0 - d1) / r0
            r1 = (lam[s0 - 1] - lam[s0 - 2]) / h
            e0, e1 = (d0 - d1) / r0, (d1 - d2) / r1
            dd1, dd2 = e0 + r0 / (r0 + r1) * (e0 - e1), (e0 - e1) / (r0 + r1)
            phi2 = phi1 / h + 1
            phi3 = phi2 / h - 0.5
            return sigma_t / sigma_s * x - alpha_t * phi1 * d0 + alpha_t * phi2 * dd1 - alpha_t * phi3 * dd2

        c = 1 - ts[s0]
        out.append((c / ts[s0] ** 2, -c * c / (2 * ts[s0] ** 2), update(1, 0, 0, 0), update(0, 1, 0, 0),
                    update(0, 0, 1, 0), update(0, 0, 0, 1)))
    return out


DPM = dpm_schedule()


def latents(a, noise, tau=TAU):
    sq = (a * a).sum(1)
    x = EPS_DPM * (tau * noise) + (1 - EPS_DPM) * a
    hist = []
    for alpha, beta, ca, b0, b1, b2 in DPM:
        d = torch.softmax(alpha * (x @ a.T) + beta * sq, dim=1) @ a
        nxt = ca * x + b0 * d
        if b1 != 0:
            nxt = nxt + b1 * hist[-1]
        if b2 != 0:
            nxt = nxt + b2 * hist[-2]
        hist.append(d)
        x = nxt
    return x


def alignment(z, label_anchors, labels, steps=100, cutoff=0.2, log=True):
    counts = torch.bincount(labels, minlength=CLASSES).to(z.dtype)
    logw = torch.log(counts / labels.numel())  # -inf for an absent class, as lzn's
    sq = (label_anchors * label_anchors).sum(1)
    x, kept = z, []
    first = int(math.floor(steps * cutoff))
    for k in range(steps):
        t = 1 - k / steps
        c = 1 - t
        p = torch.softmax(c / (t * t) * (x @ label_anchors.T) - c * c / (2 * t * t) * sq + logw, dim=1)
        if k >= first:
            kept.append(p.gather(1, labels[:, None])[:, 0])
        x = x - (x - p @ label_anchors) / (steps * t)
    best = torch.stack(kept).amax(0)
    return -(torch.log(best) if log else best).mean()


def lr_factor(s, warmup=200, total=4000):  # total: the config's steps (4000 classifier, 3000 joint)
    return (1 / warmup + (1 - 1 / warmup) * min(s, warmup) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))


def build(device, fused, joint):
    torch.manual_seed(0)
    enc = Encoder().to(device)
    anchors = nn.Parameter(torch.randn(CLASSES, Q, device=device))
    dec = RfUNet().to(device) if joint else None
    groups = [{"params": list(enc.parameters()), "lr": 2e-3}, {"params": [anchors], "lr": 1e-2}]
    if joint:
        groups.append({"params": list(dec.parameters()), "lr": 2e-3})
    params = [p for g in groups for p in g["params"]]
    kw = {"fused": True} if fused else {"foreach": device == "cuda"}
    opt = torch.optim.Adam(groups, betas=(0.9, 0.999), eps=1e-8, **kw)
    ema = [p.detach().clone() for p in params]
    return enc, anchors, dec, params, opt, ema


def runner(mode, device, batch, joint=False):
    enc, anchors, dec, params, opt, ema = build(device, fused=(mode != "eager" and device == "cuda"), joint=joint)

    def classifier_loss(x, labels, noise, u, image_noise):
        return alignment(latents(enc(x), noise), anchors, labels)

    def joint_loss(x, labels, noise, u, image_noise):
        z = latents(enc(x), noise, tau=1.0)
        onehot = F.one_hot(labels, CLASSES).to(x.dtype)
        return alignment(z, anchors, labels, log=False) + rf_loss(dec, x, u, image_noise, z, onehot)

    loss_fn = joint_loss if joint else classifier_loss
    if mode == "compile":
        loss_fn = torch.compile(loss_fn)
    elif mode == "graphs":
        loss_fn = torch.compile(loss_fn, mode="reduce-overhead")
    bases = [g["lr"] for g in opt.param_groups]
    state = {"n": 0}

    def step(s, x, labels):
        noise = torch.randn(batch, Q, device=device)
        u, image_noise = torch.rand(batch, device=device), torch.randn_like(x)
        loss = loss_fn(x, labels, noise, u, image_noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0, **({"foreach": True} if device == "cuda" else {}))
        for g, base in zip(opt.param_groups, bases):
            g["lr"] = base * lr_factor(s, total=3000 if joint else 4000)
        opt.step()
        state["n"] += 1
        rate = max(1 - 0.999, 9 / (10 + state["n"]))
        with torch.no_grad():
            if hasattr(torch, "_foreach_lerp_"):
                torch._foreach_lerp_(ema, [p.detach() for p in params], rate)
            else:  # torch < 2.0 (the --check on a CPU-only machine)
                for e, p in zip(ema, params):
                    e.lerp_(p.detach(), rate)
        return loss

    return step


def synthetic(batch, device, seed=1):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, CLASSES, (batch,), generator=g)
    patterns = torch.rand(CLASSES, 1, 28, 28, generator=g) * 2 - 1
    x = patterns[labels] + 0.3 * torch.randn(batch, 1, 28, 28, generator=g)
    return x.clamp(-1, 1).to(device), labels.to(device)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "torch_steps.json"
    device = arg("--device", "cuda" if torch.cuda.is_available() else "cpu")
    joint = arg("--recipe", "classifier") == "joint"
    batch, steps = int(arg("--batch", 256 if joint else 512)), int(arg("--steps", 200))
    modes = arg("--modes", "eager,compile,graphs").split(",")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    report = {"meta": {"torch": torch.__version__, "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                       "recipe": "joint" if joint else "classifier", "batch": batch, "timed_steps": steps,
                       "dtype": "float32", "tf32": False}, "results": []}
    x, labels = synthetic(batch, device)
    if joint:  # the port's structure against lzn's GenerationModel for tasks/recipes/fashion-joint.json
        counts = {"encoder": sum(p.numel() for p in Encoder().parameters()),
                  "decoder": sum(p.numel() for p in RfUNet().parameters())}
        report["meta"]["parameters"] = counts
        if counts != {"encoder": 2374176, "decoder": 1498529}:
            sys.exit(f"the joint port's parameter counts {counts} differ from lzn's (2374176, 1498529)")
    if "--against" in sys.argv:
        with open(arg("--against", "")) as f:
            ref = json.load(f)
        t = lambda k, *shape: torch.tensor(ref[k], dtype=torch.float64).view(*shape)
        z = latents(t("anchors", 64, Q), t("noise", 64, Q))
        dz = (z - t("latents", 64, Q)).abs().max().item()
        loss = alignment(t("latents", 64, Q), t("labelAnchors", CLASSES, Q), torch.tensor(ref["labels"])).item()
        report["against"] = {"latents_max_abs_diff": dz, "loss": loss, "lzn_loss": ref["loss"]}
        print(f"against lzn: latents max |diff| {dz:.2e}; loss {loss:.7f} vs lzn {ref['loss']:.7f}")
        if not (dz < 1e-3 and abs(loss - ref["loss"]) < 1e-5):
            sys.exit("the port disagrees with lzn")
    if "--check" in sys.argv:
        step = runner("eager", device, batch, joint)
        losses = [float(step(s, x, labels)) for s in range(30)]
        report["check"] = {"first": losses[0], "last": losses[-1]}
        print(f"check: loss {losses[0]:.4f} -> {losses[-1]:.4f} over 30 eager steps (batch {batch})")
        ok = math.isfinite(losses[-1]) and losses[-1] < losses[0]
        if not ok:
            sys.exit("check failed: the loss did not go down")
    for mode in modes:
        try:
            step = runner(mode, device, batch, joint)
            t0 = time.perf_counter()
            for s in range(5):  # warm-up (compilation, graph capture)
                step(s, x, labels)
            sync()
            warm = time.perf_counter() - t0
            t0 = time.perf_counter()
            for s in range(5, 5 + steps):
                loss = step(s, x, labels)
            sync()
            dt = time.perf_counter() - t0
            row = {"mode": mode, "steps_per_s": steps / dt, "ms_per_step": 1000 * dt / steps,
                   "warmup_s": warm, "final_loss": float(loss)}
        except Exception as e:  # a mode that cannot run here is recorded, the others still run
            row = {"mode": mode, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
        print(json.dumps(row))
        report["results"].append(row)
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
    print(f"# wrote {out}")


if __name__ == "__main__":
    main()
