"""Home-Assistant-free core of Resilient Gateway.

Nothing below this package imports ``homeassistant``; a test keeps it so. The core takes a
clock and storage from its caller, so tests and benchmarks drive it without Home
Assistant and without real waiting.
"""
