"""Numbers reported in the paper (Table 1 and Sec. 5.2), for side-by-side comparison only:
they never enter a computed result."""

from snn_tha.repro.catalogue import LABELS as DATASET_LABELS, VARIANT_LABELS, VARIANTS  # noqa: F401

# test accuracy %, 5 trials: (best, mean, sample std)
TABLE1 = {
    "mnist": {"flt32": (99.45, 99.31, 0.12), "bsnn_theta1": (98.46, 98.44, 0.02),
              "bsnn": (98.81, 98.77, 0.06), "annealing": (99.12, 99.07, 0.04)},
    "fashion_mnist": {"flt32": (91.13, 91.03, 0.09), "bsnn_theta1": (87.11, 86.70, 0.36),
                      "bsnn": (87.01, 86.95, 0.10), "annealing": (88.12, 87.92, 0.22)},
    "dvs_gesture": {"flt32": (93.05, 92.87, 0.32), "bsnn_theta1": (84.37, 84.03, 0.60),
                    "bsnn": (89.24, 88.54, 0.70), "annealing": (92.36, 91.32, 0.56)},
    "shd": {"flt32": (82.51, 82.27, 0.27), "bsnn_theta1": (63.86, 62.99, 0.91),
            "bsnn": (62.94, 62.48, 0.41), "annealing": (66.35, 65.68, 0.66)},
}
