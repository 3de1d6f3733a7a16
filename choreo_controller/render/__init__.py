"""CEL rendering (SPEC section 4): compile cache, bounded evaluation, functions, the template walk."""
