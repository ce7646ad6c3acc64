"""tetragw: TETRA radio integration gateway for emergency medical dispatch."""
