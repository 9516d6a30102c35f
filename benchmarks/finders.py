"""Every finder on the default model (harvested with the defaults): time per 1k units and how well each
finder's scores predict held-out bot imitability.

1. harvest: the default model's default harvest (made on first use under ``$MIRRORNEURON_HOME``);
2. fast finders (all but the ``slow`` ones) on every neuron of every neuron site, timed per finder;
3. slow finders (ridge at levels 2–3: each round runs the model) on every unit, or with ``--slow-units N``
   on N evenly spaced units per site, timed per unit and scaled to 1k units (a sample overstates the cost
   per unit: a site's neurons share one forward pass per window, and fewer units share fewer passes);
4. Spearman correlation of each finder with the reference, held-out imitability of the ridge bot at level 1
   (``imitability_ridge_l1``), over every unit (the slow finders: over their sample), with a 95 % bootstrap
   interval. The random finder is the baseline in the same run (its correlation should straddle 0).

``seconds_per_1k_units`` = (fast seconds measured on all units + slow seconds per unit × all units) per
1k units. ``--baseline REV`` runs this benchmark of revision REV (``git archive`` into a temporary folder,
its own sources first on the path) at the same time, on the same harvest, and prints both and the ratio. Torch and BLAS run on one thread each (threadpoolctl): on this shared machine more threads
only contend (a pooled correlation over 64k values took 8× longer with OpenBLAS' threads). Last line: JSON.
Run: ``.venv/bin/python benchmarks/finders.py [--model tiny-gelu --slow-units 8 --baseline 6f03b98]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from scipy.stats import spearmanr
from threadpoolctl import threadpool_limits

from mirrorneuron.finders import SiteData, available, site_data
from mirrorneuron.harvest.run import default_sites
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.units import ensure_harvest

REFERENCE = "imitability_ridge_l1"


def sample(data: SiteData, n: int) -> tuple[SiteData, np.ndarray]:
    """The site restricted to ``n`` evenly spaced units; all: the site itself."""
    idx = np.linspace(0, data.n_units - 1, min(n, data.n_units)).round().astype(int)
    return (data, idx) if idx.size == data.n_units else (data.subset(idx), idx)


def spearman_ci(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_boot: int = 200) -> tuple[float, ...]:
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 5 or np.ptp(x) == 0:
        return float("nan"), float("nan"), float("nan"), int(x.size)
    rho = float(spearmanr(x, y).statistic)
    boots = [spearmanr(x[i], y[i]).statistic for i in (rng.integers(0, x.size, x.size) for _ in range(n_boot))]
    lo, hi = np.nanquantile(np.array(boots, dtype=np.float64), [0.025, 0.975])
    return rho, float(lo), float(hi), int(x.size)


ROOT = Path(__file__).resolve().parents[1]


def start_baseline(rev: str, model: str, slow_units: int, folder: Path) -> subprocess.Popen[str]:
    """This benchmark as it was at ``rev``, started in the background on its own sources."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    env = {**os.environ, "PYTHONPATH": str(folder / "src")}
    cmd = [sys.executable, str(folder / "benchmarks" / "finders.py"), "--model", model, "--slow-units", str(slow_units)]
    return subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def baseline_result(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, _ = proc.communicate()
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"the baseline run failed (exit {proc.returncode}):\n{out[-2000:]}")
    return dict(json.loads(lines[-1]))


def _cpu(who: int) -> float:
    """User + system CPU seconds of this process (or of its finished children: the baseline run)."""
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny-gelu")
    ap.add_argument("--slow-units", type=int, default=0, help="units per site for the slow finders (0: all)")
    ap.add_argument("--baseline", help="git revision to measure at the same time (e.g. the branch point)")
    ap.add_argument("--baseline-slow-units", type=int, default=8, help="the baseline's --slow-units")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="finders-baseline-")
    if args.baseline:
        ensure_harvest(zoo_adapter(args.model))  # made once, before both runs read it
        base = start_baseline(args.baseline, args.model, args.baseline_slow_units, Path(tmp.name))
    torch.set_num_threads(1)
    threadpool_limits(1)  # BLAS too
    finders = available()
    fast = [f for f in finders.values() if not f.slow]
    slow = [f for f in finders.values() if f.slow]
    adapter = zoo_adapter(args.model)
    start = time.perf_counter()
    h = ensure_harvest(adapter)
    harvest_s = time.perf_counter() - start
    scores: dict[str, list[np.ndarray]] = {f.name: [] for f in finders.values()}
    ref_at_sample: list[np.ndarray] = []
    seconds = dict.fromkeys(finders, 0.0)
    cpu = dict.fromkeys(finders, 0.0)  # CPU seconds of this process: the machine is shared, wall time is not ours
    load_start = os.getloadavg()
    n_units = n_slow = 0
    for site in [s for s in default_sites(adapter) if s in h.sites]:
        data = site_data(h, adapter, site)
        n_units += data.n_units
        for f in fast:
            t, c = time.perf_counter(), time.process_time()
            scores[f.name].append(f(data))
            seconds[f.name] += time.perf_counter() - t
            cpu[f.name] += time.process_time() - c
        sub, idx = sample(data, args.slow_units or data.n_units)
        n_slow += sub.n_units
        ref_at_sample.append(scores[REFERENCE][-1][idx])
        for f in slow:
            t, c = time.perf_counter(), time.process_time()
            scores[f.name].append(f(sub))
            seconds[f.name] += time.perf_counter() - t
            cpu[f.name] += time.process_time() - c
    joined = {k: np.concatenate(v) for k, v in scores.items()}
    ref, ref_sample = joined[REFERENCE], np.concatenate(ref_at_sample)
    per_1k = {k: 1000 * (s / n_slow if finders[k].slow else s / n_units) for k, s in seconds.items()}
    cpu_1k = {k: 1000 * (s / n_slow if finders[k].slow else s / n_units) for k, s in cpu.items()}
    rng = np.random.default_rng(0)
    table = Table(
        "finder", "s / 1k units", "Spearman vs ridge l1", "95 % CI", "n", title=f"{args.model}: {n_units} units"
    )
    rhos: dict[str, float | None] = {}
    for name, f in finders.items():
        rho, lo, hi, n = spearman_ci(joined[name], ref_sample if f.slow else ref, rng)
        rhos[name] = None if np.isnan(rho) else round(rho, 4)
        ci = "—" if np.isnan(rho) else f"[{lo:+.2f}, {hi:+.2f}]"
        table.add_row(
            name + (" (sample)" if f.slow and n_slow < n_units else ""),
            f"{per_1k[name]:.1f}",
            "—" if np.isnan(rho) else f"{rho:+.3f}",
            ci,
            str(n),
        )
    Console().print(table)
    fast_s = sum(seconds[f.name] for f in fast)
    total_per_1k = 1000 * fast_s / n_units + sum(per_1k[f.name] for f in slow)
    out = {
        "bench": "finders",
        "model": args.model,
        "n_units": n_units,
        "seconds_per_1k_units": round(total_per_1k, 1),
        "seconds_per_1k_units_fast_finders": round(1000 * fast_s / n_units, 1),
        "slow_finders_sampled_units": n_slow,
        "harvest_seconds": round(harvest_s, 1),
        "reference": f"{REFERENCE} (ridge bot, level 1, held-out rounds)",
        "spearman_vs_reference": rhos,
        "baseline_random_spearman": rhos.get("random"),
        "seconds_per_1k_units_by_finder": {k: round(v, 2) for k, v in per_1k.items()},
        "cpu_seconds_per_1k_units": round(sum(cpu_1k.values()), 1),
        "cpu_seconds_per_1k_units_by_finder": {k: round(v, 2) for k, v in cpu_1k.items()},
        "process_cpu_seconds": round(_cpu(resource.RUSAGE_SELF), 1),
        "load_average_start_end": [round(x, 2) for x in (*load_start, *os.getloadavg())],
    }
    if args.baseline:
        before = baseline_result(base)
        out["baseline"] = {
            "revision": args.baseline,
            **before,
            "process_cpu_seconds": round(_cpu(resource.RUSAGE_CHILDREN), 1),
        }
        out["speedup_vs_baseline"] = round(float(before["seconds_per_1k_units"]) / total_per_1k, 2)  # type: ignore[arg-type]
    tmp.cleanup()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
