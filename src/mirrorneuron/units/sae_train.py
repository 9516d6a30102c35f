"""Training a small ReLU sparse autoencoder on harvested activations, and importing SAELens SAEs.

Training normalises the inputs by one scalar so that the centred activations have total variance 1
(``E‖a − mean‖² = 1``); the L1 coefficient is relative to that scale. The loss is
``E‖a − â‖² + l1 · E‖f‖₁`` with decoder rows kept at unit norm (so the L1 penalty cannot be dodged by
shrinking features). After training the scale is folded back: the saved SAE reads raw activations,
its features are in raw activation units, and its decoder rows stay unit-norm.
Quality is measured on a held-out 10 % of the sampled activations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.types import UserError
from mirrorneuron.units.data import Progress, site_data
from mirrorneuron.units.sae import SparseAutoencoder, from_saelens, load_sae_folder, site_of_hook
from mirrorneuron.units.saved import check_name

SMALL_MATMUL = 1 << 25  # batch × d_in × width below which training runs on one thread


@dataclass
class SaeResult:
    sae: SparseAutoencoder
    metrics: dict[str, Any]
    path: Path | None


def train_sae(
    model: str,
    site: str,
    width: int,
    l1: float,
    steps: int = 2000,
    *,
    name: str | None = None,
    harvest: Harvest | Path | None = None,
    batch_size: int = 1024,
    lr: float = 1e-3,
    max_examples: int = 200_000,
    seed: int = 0,
    save: bool = True,
    progress: Progress | None = None,
) -> SaeResult:
    """Train an SAE with ``width`` features on ``site``'s activations; report MSE, FVE, L0 and dead features."""
    if width < 1 or steps < 1 or batch_size < 1 or l1 < 0 or lr <= 0:
        raise UserError("need width ≥ 1, steps ≥ 1, batch size ≥ 1, l1 ≥ 0 and a positive learning rate")
    name = check_name(name or f"sae{width}", "SAE name")
    _, h, _ = site_data(model, site, harvest)
    acts = h.activations(site).reshape(h.n_examples, -1)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(acts), size=min(len(acts), max_examples), replace=False))
    rng.shuffle(rows)
    n_eval = max(1, len(rows) // 10)
    if len(rows) - n_eval < 2:
        raise UserError(f"the harvest has only {len(rows)} examples; an SAE needs more")
    x = torch.from_numpy(acts[rows[n_eval:]].astype(np.float32))
    mean = x.mean(0)
    scale = float(1.0 / ((x - mean).pow(2).sum(1).mean().sqrt() + 1e-12))
    xn = x * scale
    d = xn.shape[1]

    gen = torch.Generator().manual_seed(seed)
    w_dec = torch.randn(width, d, generator=gen)
    w_dec /= w_dec.norm(dim=1, keepdim=True)
    params = {
        "W_enc": w_dec.T.clone().requires_grad_(),
        "b_enc": torch.zeros(width, requires_grad=True),
        "W_dec": w_dec.requires_grad_(),
        "b_dec": (mean * scale).clone().requires_grad_(),
    }
    opt = torch.optim.Adam(params.values(), lr=lr)
    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    if batch_size * d * width <= SMALL_MATMUL:
        torch.set_num_threads(1)  # tiny matmuls: thread hand-offs cost more than they save (5–20× on a busy box)
    try:
        for step in range(steps):
            batch = xn[torch.randint(len(xn), (min(batch_size, len(xn)),), generator=gen)]
            f = torch.relu((batch - params["b_dec"]) @ params["W_enc"] + params["b_enc"])
            recon = f @ params["W_dec"] + params["b_dec"]
            loss = (recon - batch).pow(2).sum(1).mean() + l1 * f.sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                params["W_dec"] /= params["W_dec"].norm(dim=1, keepdim=True).clamp_min(1e-12)
            if progress and (step % 50 == 0 or step == steps - 1):
                progress(step + 1, steps)
    finally:
        torch.set_num_threads(threads)
    p = {k: v.detach().double().numpy() for k, v in params.items()}
    sae = SparseAutoencoder(name, model, site, p["W_enc"], p["b_enc"] / scale, p["W_dec"], p["b_dec"] / scale)
    metrics: dict[str, Any] = sae.evaluate(acts[rows[:n_eval]])
    metrics |= {
        "width": width,
        "l1": l1,
        "steps": steps,
        "lr": lr,
        "batch_size": batch_size,
        "train_examples": len(xn),
        "eval_examples": n_eval,
        "input_scale": scale,
        "final_loss": float(loss.detach()),
        "seconds": round(time.perf_counter() - t0, 2),
        "harvest": str(h.path),
    }
    sae.metrics = metrics
    path = sae.save() if save else None
    return SaeResult(sae, metrics, path)


def import_sae(
    model: str, site: str, source: Any, name: str | None = None, harvest: Harvest | Path | None = None
) -> SaeResult:
    """Save a SAELens SAE (a saved folder, or a ``sae_lens.SAE`` object) as units of ``model`` at ``site``.

    Quality figures are measured on the site's harvested activations.
    """
    if isinstance(source, str | Path):
        sae = load_sae_folder(source, model, site, name and check_name(name, "SAE name"))
    else:
        sae = from_saelens(source, model, site, check_name(name or "saelens", "SAE name"))
    check_name(sae.name, "SAE name")
    if sae.hook_name is not None and site_of_hook(sae.hook_name) != site:
        trained_on = site_of_hook(sae.hook_name)
        raise UserError(
            f"the SAE was trained on hook {sae.hook_name!r} (site {trained_on}), not on {site}; import it at {trained_on}"
        )
    _, h, _ = site_data(model, site, harvest)
    if sae.d_in != h.width(site):
        raise UserError(f"the SAE reads {sae.d_in} numbers but {site} of {model} has {h.width(site)} units")
    acts = h.activations(site).reshape(h.n_examples, -1)
    rows = np.random.default_rng(0).choice(len(acts), size=min(len(acts), 20_000), replace=False)
    sae.metrics = {**sae.evaluate(acts[np.sort(rows)]), "width": sae.d_sae, "harvest": str(h.path)}
    return SaeResult(sae, sae.metrics, sae.save())
