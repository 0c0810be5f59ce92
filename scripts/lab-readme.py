#!/usr/bin/env python3
"""scripts/lab-readme.py RESULTS_DIR: puts one `make lab` run into README.md.

Copies RESULTS_DIR's results.json, plots and table to bench/lab/results/ and rewrites the
part of README.md between <!-- lab:begin --> and <!-- lab:end --> from results.json, so the
README's numbers are exactly that run's."""
import json
import pathlib
import shutil
import sys

root = pathlib.Path(__file__).resolve().parent.parent
src = pathlib.Path(sys.argv[1]) if len(sys.argv) == 2 else None
if src is None or not (src / "results.json").is_file():
    sys.exit("usage: scripts/lab-readme.py RESULTS_DIR (a make lab output directory)")
dst = root / "bench/lab/results"
dst.mkdir(parents=True, exist_ok=True)
for f in list(src.glob("*.png")) + [src / "results.json"]:
    shutil.copy(f, dst / f.name)
j = json.loads((src / "results.json").read_text())
ex = j["experiments"]
slices = ["10ms", "1ms", "100us", "50us"]
m = j["machine"]


def f1(x):
    return f"{x:,.1f}"


def row(label, cells, go=""):
    return f"| {label} | " + " | ".join(cells) + f" | {go} |"


lines = [
    f"Results of one `make lab` run (the whole suite took {j['seconds']:.0f} s) on this machine: "
    f"{m['cpus']} CPUs ({m['cpu']}), Linux {m['kernel']}"
    + (", as root." if j["root"] else ", not root (no kernel view).")
    + " The JSON is `bench/lab/results/results.json`.",
    "",
    "| | 10 ms | 1 ms | 100 µs | 50 µs | Go 1.19 (10 ms) |",
    "| --- | --- | --- | --- | --- | --- |",
]
pre, probe, fair, over = ex.get("preempt", {}), ex.get("probe", {}), ex.get("fairness", {}), ex.get("overhead", {})
if pre:
    lines.append(row("preemption latency p50 / p99 (µs)", [f"{f1(pre[s]['p50_us'])} / {f1(pre[s]['p99_us'])}" for s in slices]))
    if all("kernel" in pre[s] for s in slices):
        lines.append(row("same, the trace joined with the kernel, p50 (µs)",
                         [f1(pre[s]["kernel"]["decision_to_off_p50_ns"] / 1e3) for s in slices]))
        lines.append(row("kernel: generate -> deliver / deliver -> handler / handler -> off, p50 (µs)",
                         [" / ".join(f1(pre[s]["kernel"][k] / 1e3) for k in
                                     ["generate_to_deliver_p50_ns", "deliver_to_handler_p50_ns", "handler_to_off_p50_ns"])
                          for s in slices]))
if probe:
    g = probe.get("go-10ms")
    lines.append(row("probe lateness p50 / p99 (µs)",
                     [f"{f1(probe['urgent-' + s]['p50_us'])} / {f1(probe['urgent-' + s]['p99_us'])}" for s in slices],
                     f"{f1(g['p50_us'])} / {f1(g['p99_us'])}" if g else ""))
    for t in ["timer", "perf"]:
        if all(f"urgent-{t}-{s}" in probe for s in slices):
            lines.append(row(f"... with `URGENT_PREEMPT={t}`",
                             [f"{f1(probe[f'urgent-{t}-{s}']['p50_us'])} / {f1(probe[f'urgent-{t}-{s}']['p99_us'])}"
                              for s in slices]))
if fair:
    g = fair.get("go-10ms")
    lines.append(row("fairness: Jain's index", [f"{fair['urgent-' + s]['jain']:.3f}" for s in slices],
                     f"{g['jain']:.3f}" if g else ""))
    for t in ["timer", "perf"]:
        if all(f"urgent-{t}-{s}" in fair for s in slices):
            lines.append(row(f"... with `URGENT_PREEMPT={t}`",
                             [f"{fair[f'urgent-{t}-{s}']['jain']:.3f}" for s in slices]))
if over:
    lines.append(row("CPU-bound slowdown (the floor's)",
                     [f"{over[s]['urgent_pct']:+.1f} % ({over[s]['floor_pct']:+.1f} %)" for s in slices]))
lines.append("")
fl = ex.get("floor")
if fl and fl.get("tgkill_handler_p50_us") is not None:
    text = (f"Floor: tgkill -> handler {f1(fl['tgkill_handler_p50_us'])} µs p50, {f1(fl['tgkill_handler_p99_us'])} µs "
            f"p99; a 1 ms timer on a plain thread is late by {f1(fl['timer_lateness_p50_us'])} µs p50.")
    if fl.get("activation_p50_us") is not None:
        def wake(f):  # one block length's wake paths
            t = f"the perf event {f1(f['activation_p50_us'])} µs p50 ({f1(f['activation_p99_us'])} p99)"
            if f.get("bpf_signal_p50_us") is not None:
                t += (f", `bpf_send_signal` {f1(f['bpf_signal_p50_us'])} ({f1(f['bpf_signal_p99_us'])}), "
                      f"a BPF ring-buffer record with `BPF_RB_FORCE_WAKEUP`, the sleeper in `epoll_wait`, "
                      f"{f1(f['bpf_ringbuf_p50_us'])} ({f1(f['bpf_ringbuf_p99_us'])})")
            return t
        text += (f" A plain thread that blocks -> the thread the kernel wakes for it running (the floors of "
                 f"URGENT_HANDOFF=perf and bpf), the blocking thread asleep {fl['wake_block_us'] / 1000:g} ms "
                 f"each time as in the handoff experiment: {wake(fl)}.")
        sb = fl.get("short_block")
        if sb and sb.get("activation_p50_us") is not None:
            text += f" The same after {sb['wake_block_us'] / 1000:g} ms asleep: {wake(sb)}."
    lines.append(text)
    lines.append("")
h = ex.get("handoff", {})
runs = [k for k in ["urgent-poll", "urgent-perf", "urgent-bpf", "go"] if k in h]
if runs:
    lines.append("Handoff (a goroutine blocks 20 ms in read(2) at GOMAXPROCS=1; the next goroutine's start):")
    lines.append("")
    lines.append("| | call -> next goroutine p50 / p99 / max (µs) | checker: good / missed / needless | "
                 "thread left the CPU -> handoff p50 / p99 (µs) |")
    lines.append("| --- | --- | --- | --- |")
    for k in runs:
        r = h[k]
        cells = [f"{f1(r['p50_us'])} / {f1(r['p99_us'])} / {f1(r['max_us'])}", "", ""]
        if "checker" in r:
            c = r["checker"]
            cells[1] = f"{c['good']:.0f} / {c['missed']:.0f} / {c['needless']:.0f}"
            cells[2] = f"{f1(c['delay_p50_ns'] / 1e3)} / {f1(c['delay_p99_ns'] / 1e3)}"
            if "floor_ratio" in r and k != "urgent-poll":
                cells[2] += f" ({r['floor_ratio']:.2f}x its floor's p50)"
        name = k if k != "go" else "Go 1.19"
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    if "go" in h and "kernel" in h["go"]:
        k = h["go"]["kernel"]
        lines.append(f"Go's twin, kernel side: {k['blocking_reads']} reads left the CPU, "
                     f"{k['read_p50_ns'] / 1e6:.2f} ms p50, off the CPU {k['offcpu_p50_ns'] / 1e6:.2f} ms p50.")
        lines.append("")
    def per_run(title, runs, fmt):  # one sentence: each run's figures
        if runs:
            lines.append(title + "; ".join(f"{k} {fmt(v)}" for k, v in runs.items()) + ".")
            lines.append("")
    per_run("22,000 getpid calls through `urgent::blocking` (`urgent-bench syscall 20000` and its warm-up), "
            "under the checker: ", h.get("short_calls", {}),
            lambda v: f"kept {v['kept']:.0f}, needless {v['needless']:.0f}, stalled {v['stalled']:.0f}")
    per_run("sysmon under a load of blocking reads (`urgent-bench handoffload`): ", h.get("load", {}),
            lambda v: f"{v['sysmon_wakeups_per_s']:.0f} wakeups/s, CPU {v['sysmon_cpu_pct']:.2f} % "
                      f"(handoffs by a spare {v['handoffs_by_spare']}, by sysmon {v['handoffs_by_sysmon']})")
    per_run("sysmon on an idle runtime (`urgent-bench sysmonidle`: main sleeps 1 s): ",
            {k: v for k, v in h.get("load", {}).items() if "idle_sysmon_cpu_pct" in v},
            lambda v: f"{v['idle_sysmon_wakeups_per_s']:.0f} wakeups/s, CPU {v['idle_sysmon_cpu_pct']:.3f} %")
    hm = h.get("micro", {})
    if hm:
        lines.append("Per mode (urgent-bench, medians [min-max] of runs; ns, echo req/s): " + "; ".join(
            f"{w} " + ", ".join(f"{m} {v['median']:.1f} [{v['min']:.1f}-{v['max']:.1f}]" for m, v in vals.items())
            for w, vals in hm.items()) + ".")
        lines.append("")
tr = ex.get("trigger", {})
if tr:
    lines.append("Who ends the slice (`URGENT_PREEMPT`; `urgent-bench preemptlat` and `overhead` per trigger): "
                 "the slice's end -> the goroutine off its M, p50 / p99 / max (µs); sysmon's wakeups per second "
                 "meanwhile; the CPU-bound slowdown (the bare-timer floor's, same `overhead` run):")
    lines.append("")
    lines.append("| trigger | " + " | ".join(s.replace("us", " µs").replace("ms", " ms") for s in slices) + " |")
    lines.append("| --- | --- | --- | --- | --- |")
    for t in ["sysmon", "timer", "perf"]:
        cells = []
        for s in slices:
            r = tr.get(f"{t}-{s}")
            if r is None:
                cells.append("")
                continue
            c = f"{f1(r['p50_us'])} / {f1(r['p99_us'])} / {f1(r['max_us'])}; {r['sysmon_wakeups_per_s']:.0f}/s"
            if r.get("overhead_pct") is not None:
                c += f"; {r['overhead_pct']:+.1f} % ({r['floor_pct']:+.1f} %)"
            cells.append(c)
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    lines.append("")
    sh = tr.get("sharedcpu", {})
    if sh:
        lines.append("Sharing its CPU with a CPU-bound thread outside urgent (`urgent-bench sharedcpu`, "
                     "10 ms slice), a goroutine's slice, p50: " + "; ".join(
                         f"{t} {v['on_cpu_p50_ms']:.2f} ms on the CPU in {v['wall_p50_ms']:.2f} ms of wall time"
                         for t, v in sh.items()) + ".")
        lines.append("")
    own = tr.get("own_signal", {})
    if own:
        lines.append("Each trigger's own signal on a thread spinning with no runtime (`urgent-bench triggerfloor`, "
                     "every 100 µs), p50 / p99: " + "; ".join(
                         f"{k} {f1(v['p50_us'])} / {f1(v['p99_us'])} µs" for k, v in own.items()) +
                     ". The `timer` and `perf` leads make up for this lateness.")
        lines.append("")
mi = ex.get("micro", {})
if mi:
    lines.append("Micro ratios (urgent time / Go time, medians): " +
                 ", ".join(f"{w} {v['ratio']:.3f}" for w, v in mi.items()) + ".")
lines.append("")
lines.append("Cross-checks printed by the lab:")
lines.append("")
lines.extend(f"- {c}" for c in j.get("cross_checks", []))
lines.append("")
for p in ["probe_cdf", "probe_trigger", "handoff_cdf", "preempt", "overhead", "fairness", "micro", "trigger"]:
    if (dst / f"{p}.png").exists():
        lines.append(f"![{p}](bench/lab/results/{p}.png)")

readme = root / "README.md"
text = readme.read_text()
begin, end = "<!-- lab:begin -->", "<!-- lab:end -->"
if begin not in text or end not in text:
    sys.exit("README.md has no lab markers")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
readme.write_text(head + begin + "\n" + "\n".join(lines) + "\n" + end + tail)
print(f"README.md updated from {src}")
