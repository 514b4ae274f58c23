#!/usr/bin/env python3
"""PyTorch peer for the LZN latent computation (lzn-spec.md §1.3-1.7, §3.1, §4; design.md §5, §8).

Usage:  python3 bench/peers/torch_lzn.py OUT.json [--budget SECONDS] [--verify-only]
        (default budget 220 s from start; cases not started by then are recorded as skipped)

Forward (anchor -> Gaussian) Euler latent flow, spec §1.5, with the anchors as their own anchor set
(b = N = n):  h = (1-eps)/K, t = eps = 1e-4, x = eps*noise + (1-eps)*a, K times x += h*v(x,t), t += h.
The velocity v(x,t) = (x - Abar)/t in three forms:
  release : materialise E[b,N,q] = (x_i - (1-t)A_j)/t, L = -|E|^2/2, p = exp(L - rowmax),
            v = sum_j p (E - A_j) / sum_j p; every velocity call wrapped in
            torch.utils.checkpoint(use_reentrant=False) when autograd is on (spec §1.3, §3.1).
  matmul  : logits = ((1-t)/t^2) x A^T - ((1-t)^2/(2t^2)) |A_j|^2, w = softmax, Abar = w A  (no checkpointing).
  sdpa    : Abar = scaled_dot_product_attention(q=x, k=A, v=A, scale=(1-t)/t^2,
            attn_mask = -((1-t)^2/(2t^2))|A_j|^2 as an additive fp32 bias [1,1,1,N] broadcast over rows),
            so its logits are exactly those of `matmul`.  Backend forced to EFFICIENT_ATTENTION (the fp32
            memory-efficient kernel); if that is refused we fall back to the default dispatch and say so.
Also DPM-Solver++(3M) latents (spec §1.7; 20 steps, eps 1e-3 both ends, t = linspace(1e-3, 0.999, 21),
data prediction D = Abar, matmul form) and the alignment loss (spec §4; reverse Euler from t=1, h=1/K,
normalised soft assignments recorded at the start of each step, paired entry, drop floor(0.2K) first
steps, max over kept steps, L = -mean m, matmul form): label case (10 anchors, class weights) and pair case.

Conventions (also written into the JSON "meta"):
  * flops per velocity evaluation = 4*b*N*q (two b x N x q matmuls); a flow of K evaluations = 4bNqK;
    fwd+bwd is counted as 3x the forward flops (release-style really does ~4x because of checkpoint recompute).
  * "fwd" runs under torch.no_grad(); "fwd+bwd" runs the forward with autograd and then
    torch.autograd.grad(loss, inputs) with loss = sum(latents * fixed random cotangent) (flows; grads to the
    anchors) or the alignment loss itself (grads to anchors X and latents z).
  * time: median of >= 5 calls after warm-up, each bracketed by torch.cuda.synchronize() (wall clock).
  * peak memory: one extra call after warm-up; torch.cuda.reset_peak_memory_stats() before,
    max_memory_allocated() after, minus memory_allocated() just before (i.e. minus the inputs).
  * release-style is skipped above n = 8192: b*N*q fp32 is 1.1 TB at n = 32768; at n = 8192 (68.7 GB per
    [b,N,q] tensor) it is attempted and an out-of-memory error is reported as "OOM".
Every case is in try/except; errors are recorded in the JSON and the script continues.
"""
import gc
import json
import math
import platform
import sys
import time
import traceback

T_START = time.perf_counter()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "torch_lzn.json"
    budget = 220.0
    if "--budget" in sys.argv:
        budget = float(sys.argv[sys.argv.index("--budget") + 1])
    report = {"meta": {}, "verification": {}, "results": []}

    def clean(o):  # strict JSON: non-finite floats become strings ("NaN", "Infinity", "-Infinity")
        if isinstance(o, float) and not math.isfinite(o):
            return "NaN" if o != o else ("Infinity" if o > 0 else "-Infinity")
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o

    def write():
        with open(out, "w") as f:
            json.dump(clean(report), f, indent=2, allow_nan=False)

    try:
        import torch
        import torch.nn.functional as F
        from torch.utils.checkpoint import checkpoint
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        try:
            torch.set_float32_matmul_precision("highest")
        except Exception:  # noqa: BLE001
            pass
        dev = torch.device("cuda")
        torch.zeros(1, device=dev)
    except Exception as e:  # noqa: BLE001
        report["meta"]["error"] = "init failed: " + repr(e)
        write()
        print(report["meta"]["error"])
        return

    OOM_TYPES = tuple(t for t in (getattr(torch.cuda, "OutOfMemoryError", None),) if t is not None)

    def is_oom(ex):
        return (OOM_TYPES and isinstance(ex, OOM_TYPES)) or "out of memory" in str(ex).lower()

    report["meta"] = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "dtype": "float32",
        "tf32": False,
        "flops_convention": "velocity eval = 4*b*N*q; flow = 4*b*N*q*K (Euler fwd at b=N=n: 4 n^2 q r); "
                            "fwd+bwd counted as 3x the forward flops",
        "fwd_mode": "torch.no_grad()",
        "fwd_bwd_mode": "forward with autograd + torch.autograd.grad(loss, inputs); flows: "
                        "loss = sum(latents * fixed random cotangent), grads w.r.t. anchors; alignment: the loss, "
                        "grads w.r.t. anchors X and latents z",
        "timing": "median of >=5 calls after warm-up, each call between torch.cuda.synchronize() (wall clock)",
        "peak_memory": "max_memory_allocated during one call minus memory_allocated before it (inputs excluded)",
        "release_style_note": "skipped above n=8192 (b*N*q fp32 = 1.1 TB at n=32768); OOM reported as 'OOM'",
        "euler_eps": 1e-4,
        "dpm": "DPM-Solver++ multistep order 3, 20 steps, eps 1e-3 both ends, t=linspace(1e-3,0.999,21), "
               "D = Abar (matmul form)",
        "budget_s": budget,
    }
    print(f"# torch_lzn on {report['meta']['device']} torch {torch.__version__} (fp32, TF32 off)", flush=True)

    # ------------------------------------------------------------------ velocity forms
    def vel_release_p(x, t, A, w=None):
        c = 1.0 - t
        E = (x[:, None, :] - c * A[None, :, :]) / t          # [b,N,q]
        L = -0.5 * (E * E).sum(-1)                           # [b,N]
        p = torch.exp(L - L.max(dim=1, keepdim=True).values)
        if w is not None:
            p = p * w[None, :]
        v = (p[:, :, None] * (E - A[None, :, :])).sum(1) / p.sum(1, keepdim=True)
        return v, p

    def vel_release(x, t, A):
        return vel_release_p(x, t, A)[0]

    def vel_mm(x, t, A, sqA, logw=None):
        c = 1.0 - t
        logits = torch.addmm(sqA[None, :], x, A.t(), beta=-(c * c) / (2.0 * t * t), alpha=c / (t * t))
        if logw is not None:
            logits = logits + logw[None, :]
        w = torch.softmax(logits, dim=1)
        return (x - w @ A) / t, w

    sdpa_state = {"ctx": None, "backend": "default"}

    def vel_sdpa(x, t, A, sqA):
        c = 1.0 - t
        bias = (-(c * c) / (2.0 * t * t)) * sqA
        q4, k4 = x[None, None], A[None, None]
        if sdpa_state["ctx"] is not None:
            with sdpa_state["ctx"]():
                o = F.scaled_dot_product_attention(q4, k4, k4, attn_mask=bias.view(1, 1, 1, -1), scale=c / (t * t))
        else:
            o = F.scaled_dot_product_attention(q4, k4, k4, attn_mask=bias.view(1, 1, 1, -1), scale=c / (t * t))
        return (x - o[0, 0]) / t

    # ------------------------------------------------------------------ flows
    def euler_forward(form, anchors, noise, K, eps=1e-4):
        A = anchors
        grad_on = torch.is_grad_enabled()
        sqA = (A * A).sum(1) if form != "release" else None
        h = (1.0 - eps) / K
        t = eps
        x = eps * noise + (1.0 - eps) * A
        for _ in range(K):
            if form == "release":
                v = checkpoint(vel_release, x, t, A, use_reentrant=False) if grad_on else vel_release(x, t, A)
            elif form == "matmul":
                v = vel_mm(x, t, A, sqA)[0]
            else:
                v = vel_sdpa(x, t, A, sqA)
            x = x + h * v
            t = t + h
        return x

    def dpm_forward(anchors, noise, K=20, eps=1e-3):
        A = anchors
        sqA = (A * A).sum(1)
        ts = [eps + k * (1.0 - 2.0 * eps) / K for k in range(K + 1)]   # linspace(1e-3, 0.999, K+1), float64

        def lam(t):
            return math.log((1.0 - t) / t)

        def D(x, t):  # data prediction x - t v = Abar
            c = 1.0 - t
            logits = torch.addmm(sqA[None, :], x, A.t(), beta=-(c * c) / (2.0 * t * t), alpha=c / (t * t))
            return torch.softmax(logits, dim=1) @ A

        x = eps * noise + (1.0 - eps) * A
        Ds = [D(x, ts[0])]
        for k in range(1, K + 1):
            s0, t = ts[k - 1], ts[k]
            order = min(3, k)
            h = lam(t) - lam(s0)
            phi1 = math.expm1(-h)
            a_t, ratio = 1.0 - t, t / s0
            if order == 1:
                x = ratio * x - (a_t * phi1) * Ds[-1]
            elif order == 2:
                s1 = ts[k - 2]
                r0 = (lam(s0) - lam(s1)) / h
                D0, D1 = Ds[-1], Ds[-2]
                x = ratio * x - (a_t * phi1) * D0 - (0.5 * a_t * phi1) * ((D0 - D1) / r0)
            else:
                s1, s2 = ts[k - 2], ts[k - 3]
                r0 = (lam(s0) - lam(s1)) / h
                r1 = (lam(s1) - lam(s2)) / h
                D0, D1, D2 = Ds[-1], Ds[-2], Ds[-3]
                d0 = (D0 - D1) / r0
                d1 = (D1 - D2) / r1
                dd1 = d0 + (r0 / (r0 + r1)) * (d0 - d1)
                dd2 = (d0 - d1) / (r0 + r1)
                phi2 = phi1 / h + 1.0
                phi3 = phi2 / h - 0.5
                x = ratio * x - (a_t * phi1) * D0 + (a_t * phi2) * dd1 - (a_t * phi3) * dd2
            if k < K:
                Ds.append(D(x, t))
                if len(Ds) > 3:
                    Ds.pop(0)
        return x

    def align_loss(X, z, pairs, K, cutoff=0.2, w=None, form="matmul"):
        sqX = (X * X).sum(1)
        logw = torch.log(w) if w is not None else None
        c0 = int(math.floor(K * cutoff + 1e-9))
        h = 1.0 / K
        t = 1.0
        x = z
        kept = []
        idx = pairs[:, None]
        for k in range(K):
            if form == "matmul":
                v, P = vel_mm(x, t, X, sqX, logw)
            else:  # release-style reference (verification only)
                v, p = vel_release_p(x, t, X, w)
                P = p / p.sum(1, keepdim=True)
            if k >= c0:
                kept.append(P.gather(1, idx)[:, 0])
            x = x - h * v
            t = t - h
        m = torch.stack(kept, 0).max(0).values
        return -m.mean()

    # ------------------------------------------------------------------ helpers
    def gen(seed):
        return torch.Generator(device="cuda").manual_seed(seed)

    def make_inputs(n, q, seed=0):
        g = gen(seed)
        anchors = torch.randn(n, q, device=dev, generator=g)
        noise = torch.randn(n, q, device=dev, generator=g)
        cot = torch.randn(n, q, device=dev, generator=g)
        return anchors, noise, cot

    def cleanup():
        gc.collect()
        torch.cuda.empty_cache()

    def worst(vals):
        vals = [float(v) for v in vals]
        return math.inf if any(not math.isfinite(v) for v in vals) else max(vals)

    def rel(a, b):
        return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))

    # ------------------------------------------------------------------ verification
    ver = report["verification"]
    # pick the SDPA backend
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        def _eff():
            return sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION])
        sdpa_state["ctx"] = _eff
        a_, n_, c_ = make_inputs(256, 200, 7)
        a_.requires_grad_(True)
        z_ = euler_forward("sdpa", a_, n_, 2)
        torch.autograd.grad((z_ * c_).sum(), [a_])
        torch.cuda.synchronize()
        sdpa_state["backend"] = "EFFICIENT_ATTENTION (forced)"
    except Exception as e:  # noqa: BLE001
        sdpa_state["ctx"] = None
        sdpa_state["backend"] = "default dispatch (EFFICIENT_ATTENTION refused: " + repr(e)[:300] + ")"
    report["meta"]["sdpa_backend"] = sdpa_state["backend"]
    print("# sdpa backend:", sdpa_state["backend"], flush=True)
    cleanup()

    # Forms a/b/c against each other and against a float64 release-style reference, at (n,q)=(2000,200).
    # Two regimes: anchors ~ N(0,I) (well separated: posteriors one-hot, latents ~ noise, d latents/d anchors ~ 0,
    # so relative gradient differences there are noise over noise), and anchors ~ 0.05*N(0,I) (posteriors mix at
    # moderate t, so gradients are non-trivial).  fp32 floor: the first step divides (x - Abar) by t = eps = 1e-4,
    # which amplifies fp32 rounding of x and Abar (~1e-7 relative) by 1e4, so every fp32 form sits ~1e-4..1e-3
    # (relative) away from float64; we report each form against float64 and pairwise.
    ver["note"] = ("rel = max|x - ref| / max|ref|. fp32 floor at eps=1e-4: the first step divides (x - Abar) by t=1e-4, "
                   "amplifying fp32 rounding by 1e4. SDPA backward recomputes logits ~(1-t)/t^2 * x.A ~ 1e8-1e10 and "
                   "subtracts the forward's logsumexp; fp32 rounding of that difference can overflow exp -> inf/NaN "
                   "or garbage gradients at t=1e-4, so its gradient is also checked at eps=1e-2. A single SDPA call "
                   "(x independent of A) has float64-accurate gradients (~1e-4 at t=1e-2, ~1e-6 at t=0.5; checked "
                   "separately); the flow-level error comes from the first step, where x sits on its own anchor, "
                   "the softmax is one-hot, and the fused backward's recomputed P and D=rowsum(dO*O) carry fp32 "
                   "rounding that (1-t)/t^2 amplifies. The matmul form's autograd uses the saved softmax, so its "
                   "gradient stays at the fp32 floor. SDPA timings are valid as compute cost; its gradients are not "
                   "usable at eps=1e-4. With anchors ~ N(0,I) the true gradient is ~1e-11 (latent ~ noise), so "
                   "relative gradient errors in that regime are meaningless.")
    forms = ("release", "matmul", "sdpa")
    Kf, Kg = 4, 2
    for label, scale in (("anchors_randn", 1.0), ("anchors_0.05randn", 0.05)):
        res = {"n": 2000, "q": 200, "anchor_scale": scale, "K_fwd": Kf, "K_grad": Kg, "eps": 1e-4}
        ver[label] = res
        try:
            anchors, noise, cot = make_inputs(2000, 200, 1)
            anchors = anchors * scale
            with torch.no_grad():
                z64 = euler_forward("release", anchors.double(), noise.double(), Kf)
                zs = {f: euler_forward(f, anchors, noise, Kf) for f in forms}
            for f in forms:
                res[f"fwd_{f}_vs_f64"] = rel(zs[f].double(), z64)
            res["fwd_matmul_vs_release"] = rel(zs["matmul"], zs["release"])
            res["fwd_sdpa_vs_release"] = rel(zs["sdpa"], zs["release"])
            res["fwd_sdpa_vs_matmul"] = rel(zs["sdpa"], zs["matmul"])
            res["fwd_f64_absmax"] = float(z64.abs().max())
            del z64, zs
            cleanup()
            for eps_g in (1e-4, 1e-2):
                sfx = "" if eps_g == 1e-4 else "_eps1e-2"
                a64 = anchors.double().requires_grad_(True)
                z = euler_forward("release", a64, noise.double(), Kg, eps=eps_g)
                g64 = torch.autograd.grad((z * cot.double()).sum(), [a64])[0]
                del a64, z
                res[f"grad_f64_absmax{sfx}"] = float(g64.abs().max())
                for f in forms:
                    if eps_g != 1e-4 and f == "release":
                        continue
                    a = anchors.clone().requires_grad_(True)
                    z = euler_forward(f, a, noise, Kg, eps=eps_g)
                    g = torch.autograd.grad((z * cot).sum(), [a])[0]
                    res[f"grad_{f}_vs_f64{sfx}"] = rel(g.double(), g64)
                    del a, z, g
                del g64
                cleanup()
        except Exception as e:  # noqa: BLE001
            res["error"] = "OOM" if is_oom(e) else traceback.format_exc(limit=4)
            print(f"# verify {label} failed:", repr(e)[:200], flush=True)
        cleanup()
        print(f"# verify {label} (2000,200) fwd K={Kf} rel vs f64: " + " ".join(
            f"{f} {res.get(f'fwd_{f}_vs_f64', float('nan')):.1e}" for f in forms)
            + f"; pairwise matmul-release {res.get('fwd_matmul_vs_release', float('nan')):.1e} sdpa-release "
            f"{res.get('fwd_sdpa_vs_release', float('nan')):.1e}", flush=True)
        print(f"#   grad K={Kg} rel vs f64 (|g|max {res.get('grad_f64_absmax', float('nan')):.1e}): " + " ".join(
            f"{f} {res.get(f'grad_{f}_vs_f64', float('nan')):.1e}" for f in forms)
            + f"; at eps=1e-2: matmul {res.get('grad_matmul_vs_f64_eps1e-2', float('nan')):.1e} sdpa "
            f"{res.get('grad_sdpa_vs_f64_eps1e-2', float('nan')):.1e}", flush=True)
    try:
        fwd_all = [ver[k][f"fwd_{f}_vs_f64"] for k in ("anchors_randn", "anchors_0.05randn") for f in forms]
        ver["max_fwd_rel_vs_f64"] = worst(fwd_all)
        ver["max_fwd_rel_pairwise"] = worst([ver[k][p] for k in ("anchors_randn", "anchors_0.05randn")
                                             for p in ("fwd_matmul_vs_release", "fwd_sdpa_vs_release",
                                                       "fwd_sdpa_vs_matmul")])
        ver["fwd_forms_agree_within_5e-3"] = ver["max_fwd_rel_pairwise"] < 5e-3
        g = ver["anchors_0.05randn"]
        ver["grad_release_matmul_agree_within_1e-3"] = worst([g["grad_release_vs_f64"], g["grad_matmul_vs_f64"]]) < 1e-3
        ver["grad_sdpa_within_1e-2_of_f64_at_eps1e-4"] = worst([g["grad_sdpa_vs_f64"]]) < 1e-2
        print(f"# verify: max fwd rel diff between forms {ver['max_fwd_rel_pairwise']:.2e}, vs f64 "
              f"{ver['max_fwd_rel_vs_f64']:.2e}", flush=True)
    except Exception as e:  # noqa: BLE001
        ver["summary_error"] = repr(e)[:300]
    cleanup()
    write()

    try:  # DPM sanity: one anchor => D == a, so the state stays on the segment (1-t)a + t n
        g = gen(3)
        a1 = torch.randn(1, 200, device=dev, generator=g)
        n1 = torch.randn(1, 200, device=dev, generator=g)
        with torch.no_grad():
            z1 = dpm_forward(a1, n1)
        tK = 1e-3 + 20 * (1.0 - 2e-3) / 20
        ver["dpm_single_anchor_rel_err"] = rel(z1, (1 - tK) * a1 + tK * n1)
        print(f"# verify dpm single-anchor segment rel err {ver['dpm_single_anchor_rel_err']:.2e}", flush=True)
    except Exception:  # noqa: BLE001
        ver["dpm_error"] = traceback.format_exc(limit=4)
    try:  # alignment: matmul form vs release-style (normalised p, weights after exp)
        g = gen(4)
        X = torch.randn(10, 200, device=dev, generator=g)
        z = torch.randn(2000, 200, device=dev, generator=g)
        lab = torch.randint(0, 10, (2000,), device=dev, generator=g)
        w = torch.bincount(lab, minlength=10).float()
        w = w / w.sum()
        with torch.no_grad():
            l_mm = align_loss(X, z, lab, 100, w=w)
            l_rel = align_loss(X, z, lab, 100, w=w, form="release")
        Xp = torch.randn(2000, 200, device=dev, generator=g)
        pr = torch.arange(2000, device=dev)
        with torch.no_grad():
            p_mm = align_loss(Xp, z, pr, 5)
            p_rel = align_loss(Xp, z, pr, 5, form="release")
        ver["align"] = {"label_K100_matmul": float(l_mm), "label_K100_release": float(l_rel),
                        "pair_K5_matmul": float(p_mm), "pair_K5_release": float(p_rel)}
        print(f"# verify align: label {float(l_mm):.6f} vs {float(l_rel):.6f}; pair K=5 {float(p_mm):.6f} vs "
              f"{float(p_rel):.6f}", flush=True)
    except Exception as e:  # noqa: BLE001
        ver["align_error"] = "OOM" if is_oom(e) else traceback.format_exc(limit=4)
    cleanup()
    write()

    if "--verify-only" in sys.argv:
        report["meta"]["total_s"] = time.perf_counter() - T_START
        write()
        print(f"# --verify-only: wrote {out}", flush=True)
        return

    # ------------------------------------------------------------------ timing harness
    print(f"{'case':<34} {'mode':<8} {'median ms':>11} {'TFLOP/s':>9} {'peak GiB':>9}  status", flush=True)

    def run_case(entry, fn, base_flops):
        entry = dict(entry)
        fwdbwd = entry["mode"] == "fwd+bwd"
        entry["flops"] = base_flops * (3 if fwdbwd else 1)
        entry.update({"median_ms": None, "tflops": None, "peak_bytes": None, "peak_gib": None})
        elapsed = time.perf_counter() - T_START
        if elapsed > budget:
            entry["status"] = f"skipped (time budget {budget:.0f}s exceeded at {elapsed:.0f}s)"
        else:
            err = None
            try:
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                fn()
                torch.cuda.synchronize()
                first = time.perf_counter() - t0
                if first < 0.5:
                    fn()
                torch.cuda.synchronize()
                base = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
                t0 = time.perf_counter()
                fn()
                torch.cuda.synchronize()
                est = time.perf_counter() - t0
                entry["peak_bytes"] = int(torch.cuda.max_memory_allocated() - base)
                entry["peak_gib"] = entry["peak_bytes"] / 2 ** 30
                runs = 10 if est * 10 < 3.0 else 5
                samples = []
                for _ in range(runs):
                    torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    fn()
                    torch.cuda.synchronize()
                    samples.append((time.perf_counter() - t0) * 1e3)
                s = sorted(samples)
                med = s[len(s) // 2] if len(s) % 2 else 0.5 * (s[len(s) // 2 - 1] + s[len(s) // 2])
                entry.update({"median_ms": med, "min_ms": s[0], "samples_ms": samples, "runs": runs,
                              "tflops": entry["flops"] / (med * 1e-3) / 1e12, "status": "ok"})
            except Exception as e:  # noqa: BLE001
                err = "OOM" if is_oom(e) else "error: " + repr(e)[:300]
                entry["status"] = err
                if err != "OOM":
                    entry["trace"] = traceback.format_exc(limit=4)
            cleanup()
        report["results"].append(entry)
        name = entry["name"]
        if entry["median_ms"] is not None:
            print(f"{name:<34} {entry['mode']:<8} {entry['median_ms']:11.2f} {entry['tflops']:9.2f} "
                  f"{entry['peak_gib']:9.3f}  ok", flush=True)
        else:
            print(f"{name:<34} {entry['mode']:<8} {'-':>11} {'-':>9} {'-':>9}  {entry['status']}", flush=True)
        write()

    def flow_cases(form, n, q, K, solver="euler"):
        tag = f"{solver}_{form}_n{n}_q{q}_r{K}"
        common = {"name": tag, "op": "latents", "solver": solver, "form": form, "n": n, "N": n, "q": q, "r": K,
                  "checkpointed": form == "release" and solver == "euler"}
        flops = 4 * n * n * q * K
        try:
            anchors, noise, cot = make_inputs(n, q, 11)
        except Exception as e:  # noqa: BLE001
            for mode in ("fwd", "fwd+bwd"):
                report["results"].append(dict(common, mode=mode, status="OOM" if is_oom(e) else repr(e)[:300]))
            write()
            return

        def run(a):
            return dpm_forward(a, noise, K) if solver == "dpm++3m" else euler_forward(form, a, noise, K)

        def fwd():
            with torch.no_grad():
                run(anchors)

        def fwdbwd():
            a = anchors.detach().requires_grad_(True)
            z = run(a)
            torch.autograd.grad((z * cot).sum(), [a])

        run_case(dict(common, mode="fwd"), fwd, flops)
        run_case(dict(common, mode="fwd+bwd"), fwdbwd, flops)
        del anchors, noise, cot
        cleanup()

    def align_cases(kind):
        g = gen(21)
        q = 200
        if kind == "label":
            N, b, K = 10, 2000, 100
            X = torch.randn(N, q, device=dev, generator=g)
            z = torch.randn(b, q, device=dev, generator=g)
            pairs = torch.randint(0, N, (b,), device=dev, generator=g)
            w = torch.bincount(pairs, minlength=N).float()
            w = w / w.sum()
        else:
            N, b, K = 2000, 2000, 20
            X = torch.randn(N, q, device=dev, generator=g)
            z = torch.randn(b, q, device=dev, generator=g)
            pairs = torch.arange(b, device=dev)
            w = None
        common = {"name": f"align_{kind}_b{b}_N{N}_q{q}_K{K}", "op": "alignment_loss", "form": "matmul",
                  "b": b, "N": N, "q": q, "r": K, "cutoff": 0.2, "weights": w is not None, "log": False}
        flops = 4 * b * N * q * K

        def fwd():
            with torch.no_grad():
                align_loss(X, z, pairs, K, w=w)

        def fwdbwd():
            Xg = X.detach().requires_grad_(True)
            zg = z.detach().requires_grad_(True)
            torch.autograd.grad(align_loss(Xg, zg, pairs, K, w=w), [Xg, zg])

        run_case(dict(common, mode="fwd"), fwd, flops)
        run_case(dict(common, mode="fwd+bwd"), fwdbwd, flops)

    # ------------------------------------------------------------------ the schedule (cheap first)
    for form in ("release", "matmul", "sdpa"):
        flow_cases(form, 2000, 200, 20)
    flow_cases("matmul", 2000, 200, 20, solver="dpm++3m")
    for kind in ("label", "pair"):
        try:
            align_cases(kind)
        except Exception as e:  # noqa: BLE001
            report["results"].append({"name": f"align_{kind}", "status": "error: " + repr(e)[:300]})
            write()
    for n in (8192, 32768):
        for form in ("release", "matmul", "sdpa"):
            if form == "release" and n > 8192:
                for mode in ("fwd", "fwd+bwd"):
                    report["results"].append({
                        "name": f"euler_release_n{n}_q256_r20", "op": "latents", "solver": "euler",
                        "form": "release", "n": n, "N": n, "q": 256, "r": 20, "mode": mode,
                        "median_ms": None, "tflops": None, "peak_bytes": None, "peak_gib": None,
                        "status": "skipped (release-style above n=8192: b*N*q fp32 = "
                                  f"{n * n * 256 * 4 / 1e12:.1f} TB)"})
                    print(f"{'euler_release_n' + str(n) + '_q256_r20':<34} {mode:<8} {'-':>11} {'-':>9} {'-':>9}"
                          "  skipped (materialises b*N*q)", flush=True)
                write()
                continue
            flow_cases(form, n, 256, 20)
    report["meta"]["total_s"] = time.perf_counter() - T_START
    write()
    print(f"# wrote {out} in {report['meta']['total_s']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
