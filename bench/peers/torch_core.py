#!/usr/bin/env python3
"""PyTorch peer for the tensor-core benchmarks: fp32 matmul and conv2d on CUDA, TF32 OFF.

Usage:  python3 bench/peers/torch_core.py OUT.json [--runs 15] [--decoder]
        (--decoder: only the RF decoder's convolutions at batch 256, fwd and fwd+bwd, as bench/gpu_conv.ts --decoder)

Timing: every case gets warm-up calls, then >= 10 samples.  One sample = `inner` back-to-back calls
bracketed by CUDA events (start.record(); inner x op; end.record(); synchronize), divided by `inner`.
`inner` is picked so that a sample lasts >= ~20 ms (1 for the 4096^3 matmul), which removes launch jitter
from the small cases.  We quote the median sample.

FLOPs: matmul 2*M*N*K; conv2d 2*N*Cout*Hout*Wout*Cin*kh*kw (multiply-add = 2).

Shapes (NCHW, fp32, contiguous):
  conv_b256_c64_32x32_k3   batch 256, 64 -> 64 channels, 32x32, 3x3 pad 1 (small CNN / NCSN++ low-channel level)
  conv_b128_c128_32x32_k3  batch 128, 128 -> 128 channels, 32x32, 3x3 pad 1 (NCSN++ CIFAR-10 top level, ch=128)
  conv_b256_c256_14x14_k3  batch 256, 256 -> 256 channels, 14x14, 3x3 pad 1 (ResNet-50 stage-3 3x3 conv)
cudnn.benchmark is ON (cuDNN picks its fastest algorithm during warm-up), which is the fair peer setting.
Conv TFLOP/s are "effective" (direct-conv flop count): cuDNN may use Winograd/FFT, which can exceed fp32 peak.

Writes a JSON list of {name, shape, median_ms, tflops, ...}; a failing case is recorded with "error"
and the script continues.
"""
import json
import platform
import sys
import time
import traceback

RESULTS = []


def shape_str(shape):
    if isinstance(shape, dict):
        return f"{shape['N']}x{shape['Cin']}->{shape['Cout']} {shape['H']}x{shape['W']} k{shape['k']}"
    return "x".join(str(v) for v in shape) if shape else "-"


def record(entry):
    RESULTS.append(entry)
    ms = entry.get("median_ms")
    tf = entry.get("tflops")
    if ms is None:
        print(f"{entry['name']:<28} {shape_str(entry.get('shape')):<34} {'ERROR: ' + str(entry.get('error'))[:60]}",
              flush=True)
    else:
        print(f"{entry['name']:<28} {shape_str(entry.get('shape')):<34} {ms:10.3f} ms {tf:8.2f} TFLOP/s", flush=True)


def write(path):
    with open(path, "w") as f:
        json.dump(RESULTS, f, indent=2)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "torch_core.json"
    runs = 15
    if "--runs" in sys.argv:
        runs = max(10, int(sys.argv[sys.argv.index("--runs") + 1]))
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001
        RESULTS.append({"name": "import", "shape": None, "median_ms": None, "tflops": None, "error": repr(e)})
        write(out)
        print("torch import failed:", e)
        return
    meta = {}
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        try:
            torch.set_float32_matmul_precision("highest")
        except Exception:  # noqa: BLE001
            pass
        dev = torch.device("cuda")
        meta = {
            "device": torch.cuda.get_device_name(0),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "python": platform.python_version(),
            "dtype": "float32",
            "tf32": False,
            "cudnn_benchmark": True,
            "timing": "median over samples; sample = inner back-to-back calls between CUDA events / inner",
        }
    except Exception as e:  # noqa: BLE001
        RESULTS.append({"name": "cuda-init", "shape": None, "median_ms": None, "tflops": None, "error": repr(e)})
        write(out)
        print("CUDA init failed:", e)
        return
    print(f"# torch_core on {meta['device']} torch {meta['torch']} (fp32, TF32 off)", flush=True)
    print(f"{'name':<28} {'shape':<34} {'median':>13} {'rate':>16}")

    def bench(name, shape, flops, make, extra=None):
        try:
            op = make()
            torch.cuda.synchronize()
            # warm-up (also lets cudnn.benchmark pick an algorithm) and estimate cost per call
            for _ in range(3):
                op()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(3):
                op()
            torch.cuda.synchronize()
            per = (time.perf_counter() - t0) / 3
            inner = max(1, min(200, int(0.02 / max(per, 1e-6))))
            samples = []
            s = torch.cuda.Event(enable_timing=True)
            e = torch.cuda.Event(enable_timing=True)
            for _ in range(runs):
                s.record()
                for _ in range(inner):
                    op()
                e.record()
                e.synchronize()
                samples.append(s.elapsed_time(e) / inner)
            samples.sort()
            med = samples[len(samples) // 2] if len(samples) % 2 else 0.5 * (
                samples[len(samples) // 2 - 1] + samples[len(samples) // 2])
            entry = {"name": name, "shape": shape, "median_ms": med, "tflops": flops / (med * 1e-3) / 1e12,
                     "flops": flops, "inner": inner, "samples_ms": samples, "min_ms": samples[0]}
            if extra:
                entry.update(extra)
            entry.update(meta)
            record(entry)
        except Exception as ex:  # noqa: BLE001
            entry = {"name": name, "shape": shape, "median_ms": None, "tflops": None,
                     "error": "OOM" if isinstance(ex, torch.cuda.OutOfMemoryError) else repr(ex),
                     "trace": traceback.format_exc(limit=3)}
            entry.update(meta)
            record(entry)
        finally:
            torch.cuda.empty_cache()
        write(out)

    def mm_case(m, n, k, transposed):
        def make():
            g = torch.Generator(device="cuda").manual_seed(0)
            a = torch.randn(m, k, device=dev, generator=g)
            if transposed:
                b = torch.randn(n, k, device=dev, generator=g)  # used as b.T (a view; cuBLAS gets the transpose flag)
                c = torch.empty(m, n, device=dev)
                return lambda: torch.matmul(a, b.t(), out=c)
            b = torch.randn(k, n, device=dev, generator=g)
            c = torch.empty(m, n, device=dev)
            return lambda: torch.matmul(a, b, out=c)
        return make

    if "--decoder" in sys.argv:
        decoder_convs(bench, dev, torch, F)
        write(out)
        print(f"# wrote {out}")
        return

    bench("matmul_4096", [4096, 4096, 4096], 2 * 4096 ** 3, mm_case(4096, 4096, 4096, False), {"op": "A@B"})
    bench("matmul_1000", [1000, 1000, 1000], 2 * 1000 ** 3, mm_case(1000, 1000, 1000, False), {"op": "A@B"})
    bench("matmul_4096_bT", [4096, 4096, 4096], 2 * 4096 ** 3, mm_case(4096, 4096, 4096, True), {"op": "A@B.T"})

    def conv_case(n, cin, cout, h, w, k, pad):
        def make():
            g = torch.Generator(device="cuda").manual_seed(0)
            x = torch.randn(n, cin, h, w, device=dev, generator=g)
            wt = torch.randn(cout, cin, k, k, device=dev, generator=g) * (1.0 / (cin * k * k) ** 0.5)
            return lambda: F.conv2d(x, wt, None, 1, pad)
        return make

    for (n, cin, cout, h, w, k, pad) in [(256, 64, 64, 32, 32, 3, 1), (128, 128, 128, 32, 32, 3, 1),
                                         (256, 256, 256, 14, 14, 3, 1)]:
        ho, wo = h + 2 * pad - k + 1, w + 2 * pad - k + 1
        flops = 2 * n * cout * ho * wo * cin * k * k
        bench(f"conv_b{n}_c{cin}_{h}x{w}_k{k}", {"N": n, "Cin": cin, "Cout": cout, "H": h, "W": w, "k": k,
                                                 "pad": pad}, flops, conv_case(n, cin, cout, h, w, k, pad),
              {"op": "conv2d fwd NCHW, no bias",
               "note": "TFLOP/s counts direct-convolution flops; cuDNN (benchmark mode) may pick Winograd/FFT "
                       "algorithms that do fewer multiplies, so this 'effective' rate can exceed the fp32 peak"})
    write(out)
    print(f"# wrote {out}")


# The RF decoder's convolutions at batch 256, as bench/gpu_conv.ts --decoder (decoderCases): (Cin, Cout, H, k).
DECODER_CONVS = [(1, 32, 28, 3), (32, 32, 28, 3), (64, 32, 28, 3), (96, 32, 28, 3), (96, 32, 28, 1), (64, 64, 28, 3),
                 (32, 1, 28, 3), (32, 64, 14, 3), (64, 64, 14, 3), (128, 64, 14, 3), (96, 64, 14, 3),
                 (64, 64, 7, 3), (128, 64, 7, 3),
                 (64, 32, 28, 1), (32, 64, 14, 1), (96, 64, 14, 1), (128, 64, 14, 1), (128, 64, 7, 1), (64, 64, 7, 1)]


def decoder_convs(bench, dev, torch, F, n=256):
    """Forward and forward+backward (dx and dw; 3x the forward's flops) of each decoder shape, no bias."""
    for (cin, cout, h, k) in DECODER_CONVS:
        pad = k // 2
        flops = 2 * n * cout * h * h * cin * k * k
        shape = {"N": n, "Cin": cin, "Cout": cout, "H": h, "W": h, "k": k, "pad": pad}
        name = f"dec_c{cin}to{cout}_{h}_k{k}"

        def tensors():
            g = torch.Generator(device="cuda").manual_seed(0)
            x = torch.randn(n, cin, h, h, device=dev, generator=g)
            wt = torch.randn(cout, cin, k, k, device=dev, generator=g) * (1.0 / (cin * k * k) ** 0.5)
            return x, wt, torch.randn(n, cout, h, h, device=dev, generator=g)

        def fwd():
            x, wt, _ = tensors()
            return lambda: F.conv2d(x, wt, None, 1, pad)

        def fwd_bwd():
            x, wt, seed = tensors()
            x.requires_grad_(True)
            wt.requires_grad_(True)

            def step():
                F.conv2d(x, wt, None, 1, pad).backward(seed)
                x.grad = None
                wt.grad = None
            return step

        bench(f"{name} fwd", shape, flops, fwd, {"op": "conv2d fwd NCHW, no bias", "mode": "fwd"})
        bench(f"{name} fwd+bwd", shape, 3 * flops, fwd_bwd, {"op": "conv2d fwd + dx + dw", "mode": "fwd+bwd"})


if __name__ == "__main__":
    main()
