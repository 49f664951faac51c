"""The statistics that decide a claim (issue 20): paired over seeds.

Two variants trained with the same seed see the same batches in the same order and start from
the same latent weights (`tests/test_claim_stats.py` checks it), so the seed-to-seed spread
cancels in the per-seed difference d_s = a_s - b_s. Over the n seeds both variants finished:

    mean = sum(d_s) / n,  sd = sqrt(sum((d_s - mean)^2) / (n - 1)),  se = sd / sqrt(n)

and the exact sign-flip permutation test: under "no effect" each d_s is as likely to carry
either sign, so p = the share of the 2^n sign assignments whose mean is >= the observed one
(one-sided, in the direction tested). A claim **holds** when mean > 2 se and p <= 0.05 in the
claimed direction, **does not hold** when the same is true in the opposite direction, and is
otherwise **not measurable at this budget**. The exact test cannot reach 0.05 with fewer than
5 pairs (its smallest p is 2^-n), and a spread of 0 (se = 0) decides nothing.
The smallest detectable effect is 2 se: an effect that size would just be decided.
"""
import itertools
import math
import statistics

import numpy as np

LEVEL = 0.05
MIN_PAIRS = math.ceil(math.log2(1 / LEVEL))   # 5: 2^-5 = 0.031 is the first p <= 0.05
HOLDS, FAILS, UNDECIDED = "holds", "does not hold", "not measurable at this budget"
RULE = ("Rule (paired over seeds): d_s = A − B for each seed both variants finished; mean, "
        "sd and se = sd/√n of the d_s; exact sign-flip permutation test over the 2^n sign "
        "assignments (one-sided). **holds** if mean > 2 se and p ≤ 0.05, **does not hold** if "
        "the same holds for B − A, otherwise **not measurable at this budget**. Fewer than "
        f"{MIN_PAIRS} pairs cannot reach p ≤ 0.05; se = 0 decides nothing. "
        "'detectable' = 2 se, the smallest effect this many seeds would decide.")
EXACT_UP_TO = 20   # 2^20 sign vectors; beyond, 2^16 random ones (fixed generator)


def sample_sd(values):
    """The sample standard deviation (n - 1), NaN for fewer than two values."""
    return statistics.stdev(values) if len(values) > 1 else float("nan")


def describe(values):
    values = [float(v) for v in values]
    return {"n": len(values), "mean": statistics.mean(values) if values else float("nan"),
            "std": sample_sd(values), "values": values}


def sign_flip_p(diffs):
    """One-sided exact p of mean(diffs) > 0: share of sign assignments with mean >= observed."""
    d = np.asarray(diffs, dtype=np.float64)
    if len(d) > EXACT_UP_TO:
        signs = np.random.default_rng(0).choice([-1.0, 1.0], size=(1 << 16, len(d)))
    else:
        signs = np.array(list(itertools.product([-1.0, 1.0], repeat=len(d))))
    means = signs @ d / len(d)
    # ties: a sign assignment whose mean equals the observed one (to rounding) counts as >=
    return float(np.mean(means >= d.mean() - 1e-12 * max(1.0, abs(d.mean()))))


def paired(a, b):
    """Decide mean(a - b) > 0 from {seed: value} dicts (only seeds in both pair)."""
    seeds = sorted(set(a) & set(b))
    diffs = [a[s] - b[s] for s in seeds]
    out = {"seeds": seeds, "n": len(diffs), "diffs": diffs, "mean": float("nan"),
           "sd": float("nan"), "se": float("nan"), "p": float("nan"), "p_opposite": float("nan"),
           "detectable": float("nan"), "verdict": UNDECIDED}
    if len(diffs) < 2:
        return out
    mean, sd = statistics.mean(diffs), statistics.stdev(diffs)
    se = sd / math.sqrt(len(diffs))
    out.update(mean=mean, sd=sd, se=se, detectable=2 * se, p=sign_flip_p(diffs),
               p_opposite=sign_flip_p([-x for x in diffs]))
    if se > 0 and mean > 2 * se and out["p"] <= LEVEL:
        out["verdict"] = HOLDS
    elif se > 0 and mean < -2 * se and out["p_opposite"] <= LEVEL:
        out["verdict"] = FAILS
    return out


def seeds_needed(sd, effect):
    """Pairs needed so that `effect` is 2 se (at least MIN_PAIRS): n = (2 sd / effect)^2."""
    if not (sd == sd and effect > 0):
        return None
    return max(MIN_PAIRS, math.ceil((2 * sd / effect) ** 2))
