"""Shared test set-up. Home Assistant tests live in tests/ha; the core and the radios are
tested without Home Assistant in tests/core and tests/radios."""

import probatio

# zigpy validates its configuration with probatio, which compiles a schema once it has
# validated 50 times; the compiled form of zigpy's schema fails ("NameError: name 'inf'
# is not defined"). A test run starts far more zigpy apps than that, so the schema stays
# interpreted (the same validation, only not generated code).
probatio.set_compile_policy(probatio.CompilePolicy.OFF)
