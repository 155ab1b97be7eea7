"""A synthetic social graph and its eigenvector centrality, in plain numpy."""

import numpy as np

EDGES_PER_NODE = 8
POWER_ITERATIONS = 60


def eigenvector_centrality(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Centrality of each node in a Chung-Lu random graph whose expected degrees follow `weights`.

    Edges are drawn with endpoint probability proportional to weight, so heavy-tailed weights give
    a few super-connectors. Returned values are scaled so the most central node is 1.
    """
    n = len(weights)
    edges = EDGES_PER_NODE * n // 2
    p = weights / weights.sum()
    source = rng.choice(n, size=edges, p=p)
    target = rng.choice(n, size=edges, p=p)
    keep = source != target
    source, target = source[keep], target[keep]
    x = np.full(n, 1.0 / np.sqrt(n))
    for _ in range(POWER_ITERATIONS):
        # A x + x (the shift keeps the iteration from oscillating on bipartite-like parts)
        y = np.bincount(source, weights=x[target], minlength=n) + np.bincount(target, weights=x[source], minlength=n)
        y += x
        y /= np.linalg.norm(y)
        if np.abs(y - x).max() < 1e-9:
            x = y
            break
        x = y
    return x / x.max()
