"""Wire-level tests of bellows (EZSP) against an emulated NCP over TCP."""
