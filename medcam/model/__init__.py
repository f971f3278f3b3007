"""Model specs, hash-checked loading, input grids and preprocessing."""
