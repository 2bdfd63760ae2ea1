"""Every tuning constant of the tree matching, by name, in one place (no imports)."""

# ---- match_trees' defaults
GEOMETRY_WEIGHT = 0.5
AMBIGUITY_TOL = 0.005
N_LEVELS = 64
MAX_REFINE = 10

# ---- costs
W_NEST = 0.5  # weight of the nesting curves in the node costs
SHAPE_WEIGHT = 0.2  # weight of the normalised covariance spectra (times geometry_weight)
SPREAD_WEIGHT = 0.2  # weight of the log spread ratio (times geometry_weight)
SPREAD_FLOOR = 1e-12  # spreads are floored at this before their log ratio
JACCARD_DELETION = 0.45  # with a correspondence: pairs overlapping by less than 10% are not made
COST_BLOCK = 2_000_000  # node costs are computed in row blocks of about this many curve entries
PROFILE_GRID = 64  # grid points of the leaves' distance distributions
PROFILE_MAX = 4.0  # ... up to this many mean distances

# ---- starts and refinement
N_STARTS_FEW = 24  # fused-GW starts when both trees have at most FEW_LEAVES leaves
N_STARTS_SOME = 8  # ... at most SOME_LEAVES leaves
N_STARTS_MANY = 0  # ... more
FEW_LEAVES = 32
SOME_LEAVES = 64
ANCHOR_MAX_LEAVES = 32  # anchored starts only up to this many leaves
N_ANCHOR_LEAVES = 2  # A's largest leaves each anchored to every B leaf in turn
FGW_ALPHAS = (0.5, 0.9)  # fused-GW trade-offs, alternating over the starts
FGW_FIXED_STARTS = 2  # the first starts use the independent coupling, the rest random ones
SINKHORN_ITER = 2000  # scaling iterations that give a random coupling its marginals
SINKHORN_TOL = 1e-12
MASS_WEIGHT_FLOOR = 1e-9  # added to sqrt(mass_a * mass_b), the Procrustes weight of a node pair
TWO_OPT_MAX_PAIRS = 40  # exchanges are tried only up to this many leaf pairs
IMPROVE_TOL = 1e-12  # a start or refinement step must lower the objective by more than this
TWO_OPT_TOL = 1e-9  # an exchange must lower the objective by more than this

# ---- confidence
ALT_TOL = 0.05  # relative objective gap under which another local optimum is 'as good'

# ---- merge distortion
MAX_SAMPLED_PAIRS = 100_000_000  # sampled point pairs at most (two int64 arrays of 0.8 GB)
