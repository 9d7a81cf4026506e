"""Pure numpy/torch core (no Qt): rig, frame/result types, geometry, fusion, metrics."""
