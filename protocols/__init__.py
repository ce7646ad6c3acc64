"""Wire formats as pure code: no IO, no clocks, no upper layers."""
