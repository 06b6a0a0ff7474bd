"""Display names of the sweep's models (shared by the results and the plots)."""

from __future__ import annotations

MODEL_LABELS = {
    "snn": "SNN",
    "free": "linear regression (free X)",
    "deep": "deep factorisation",
    "factor": "factorisation U V^T",
    "convex": "nuclear-norm minimiser (convex)",
}
