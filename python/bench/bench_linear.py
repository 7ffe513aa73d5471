"""Times torch.ops.sparse24.linear from Python.

CPU (any machine): the op's host overhead per call: a tiny layer (32x64, one token)
so the arithmetic is negligible, timed three ways: through sparse24.Linear (module
call + torch.library dispatch + the binding), the binding alone (Layer.forward_cpu
on a preallocated output), and F.linear on the dense weight for scale.

GPU (when torch sees one): bf16 decode shapes at 1-16 tokens, CUDA events over many
calls, for the op (sparse24's kernels), F.linear on the dense pruned weight (cuBLAS),
and torch._cslt_sparse_mm (cuSPARSELt, if this torch has it); and the op's host time
per call (launch rate with no sync), which bounds the Python overhead.

    python bench_linear.py [--out results.md] [--quick]
"""

import argparse
import sys
import time

import torch

import sparse24


def per_call_us(fn, calls, repeats=5):
    """Best (least disturbed) wall time of one call, in microseconds, over `repeats` runs
    of `calls`: the cost itself, without what other processes on the machine add."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t0) / calls * 1e6)
    return min(times)


def interleaved_us(fns, calls, rounds):
    """Best time per call of each function, in microseconds, over `rounds` rounds that
    run every function in turn (a busy machine disturbs them alike)."""
    best = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            best[k] = min(best[k], (time.perf_counter() - t0) / calls * 1e6)
    return best


def cpu_overhead(lines, quick):
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    w = torch.randn(32, 64, generator=g)
    lin = sparse24.Linear.from_dense(w)
    x = torch.randn(1, 64, generator=g)
    y = torch.empty(1, 32)
    x0, y0 = torch.empty(0, 64), torch.empty(0, 32)
    dense = lin.dense_weight()
    fns = {
        "op0": lambda: torch.ops.sparse24.linear(x0, lin._handle, 32),
        "module0": lambda: lin(x0),
        "binding0": lambda: lin.layer.forward_cpu(x0, y0),
        "op": lambda: torch.ops.sparse24.linear(x, lin._handle, 32),
        "module": lambda: lin(x),
        "binding": lambda: lin.layer.forward_cpu(x, y),
        "f_linear": lambda: torch.nn.functional.linear(x, dense),
    }
    with torch.inference_mode():
        t = interleaved_us(fns, 500 if quick else 2000, 10 if quick else 20)
    lines += [
        "## CPU: host time per call (32x64 f32 layer, 1 token, 1 thread, inference_mode)",
        "",
        "| call | us per call |",
        "|---|---|",
        f"| torch.ops.sparse24.linear (torch.library dispatch) | {t['op']:.1f} |",
        f"| sparse24.Linear (eager: no dispatch) | {t['module']:.1f} |",
        f"| Layer.forward_cpu (the binding alone, output preallocated) | {t['binding']:.1f} |",
        f"| F.linear on the dense weight | {t['f_linear']:.1f} |",
        f"| torch.ops.sparse24.linear, 0 tokens (host path alone: no arithmetic) | {t['op0']:.1f} |",
        f"| sparse24.Linear, 0 tokens | {t['module0']:.1f} |",
        f"| Layer.forward_cpu, 0 tokens (argument checks, no allocation) | {t['binding0']:.1f} |",
        "",
        f"Host overhead per call (0 tokens): op {t['op0']:.1f} us, module {t['module0']:.1f} us, "
        f"of which the binding's tensor checks {t['binding0']:.1f} us.",
        "",
    ]


def cuda_times(lines, quick, device="cuda"):
    dev = torch.device(device)
    name = torch.cuda.get_device_name(dev)
    shapes = [(4096, 4096), (14336, 4096)] if not quick else [(4096, 4096)]
    tokens_list = [1, 2, 4, 8, 16]
    iters = 50 if quick else 200
    has_cslt = hasattr(torch, "_cslt_compress")
    lines += [
        f"## GPU: {name}, bf16, us per call (CUDA events, mean of {iters} calls after warm-up)",
        "",
        "| out x in | tokens | sparse24.Linear | torch.ops.sparse24.linear | F.linear (dense) | _cslt_sparse_mm | Linear / dense | Linear host us |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for out, inn in shapes:
        g = torch.Generator().manual_seed(out)
        w = (torch.randn(out, inn, generator=g) * inn**-0.5).to(torch.bfloat16)
        lin = sparse24.Linear.from_dense(w)
        dense = lin.dense_weight().to(dev)
        cslt = None
        if has_cslt:
            try:
                cslt = torch._cslt_compress(dense)
            except RuntimeError as e:
                print(f"cuSPARSELt unavailable: {e}", file=sys.stderr)
        for tokens in tokens_list:
            x = torch.randn(tokens, inn, generator=g).to(torch.bfloat16).to(dev)
            xt = x.t()
            fns = {
                "op": lambda: lin(x),
                "torch_op": lambda: torch.ops.sparse24.linear(x, lin._handle, out),
                "dense": lambda: torch.nn.functional.linear(x, dense),
            }
            if cslt is not None:
                fns["cslt"] = lambda: torch._cslt_sparse_mm(cslt, xt, transpose_result=True)
            res = {}
            with torch.inference_mode():
                for key, fn in fns.items():
                    try:
                        for _ in range(10):
                            fn()
                        torch.cuda.synchronize()
                    except (RuntimeError, ValueError) as e:  # cuSPARSELt refusing a shape, a sparse24 error
                        print(f"{key} at {out}x{inn}, {tokens} tokens: {e}", file=sys.stderr)
                        continue
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    for _ in range(iters):
                        fn()
                    end.record()
                    end.synchronize()
                    res[key] = start.elapsed_time(end) * 1e3 / iters
                # Host time of one Linear call: enqueue without waiting.
                torch.cuda.synchronize()
                host = per_call_us(fns["op"], iters, repeats=3) if "op" in res else float("nan")
                torch.cuda.synchronize()

            def cell(key):
                return f"{res[key]:.1f}" if key in res else "n/a"

            ratio = f"{res['op'] / res['dense']:.2f}" if "op" in res and "dense" in res else "n/a"
            lines.append(
                f"| {out}x{inn} | {tokens} | {cell('op')} | {cell('torch_op')} | {cell('dense')} | "
                f"{cell('cslt')} | {ratio} | {host:.1f} |"
            )
    lines.append("")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    lines = [f"# sparse24 torch op benchmark (torch {torch.__version__})", ""]
    cpu_overhead(lines, args.quick)
    if torch.cuda.is_available():
        cuda_times(lines, args.quick)
    else:
        reason = sparse24.cuda_unavailable_reason() or "torch sees no CUDA device"
        lines += [f"GPU: skipped: no CUDA device ({reason})", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
