"""Parameter schemas (SPEC section 3): shorthand and openAPIV3Schema -> JSON Schema, defaults, violations."""
